//! Sixteen f32 lanes as one AVX-512 register, two AVX2 registers, four SSE registers or a
//! plain array: the vector type the kernels in [`crate::kernels`] are written over.
//!
//! In and out: `f32` memory (unaligned). Every method is `#[inline(always)]` and `unsafe`
//! (raw pointers, and the instruction set must be enabled in the function it is inlined into,
//! which the forward pass's `#[target_feature]` entry points guarantee).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Operations on 16 lanes of f32.
pub trait V16: Copy {
    /// The register(s).
    type V: Copy;
    /// Hardware registers one `V` takes, out of 32 (AVX-512) or 16 (AVX2, SSE): the kernels
    /// size their register tiles by it, since a tile that spills its accumulators runs at a
    /// fraction of the speed.
    const REGS: usize;
    /// Loads 16 floats from `p`.
    unsafe fn load(p: *const f32) -> Self::V;
    /// Stores 16 floats to `p`.
    unsafe fn store(p: *mut f32, v: Self::V);
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self::V;
    /// `a·b + c` (fused where the instruction set has FMA).
    unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise maximum.
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
}

/// One 512-bit register (AVX-512F).
#[derive(Clone, Copy)]
pub struct Avx512;
/// Two 256-bit registers (AVX2 + FMA).
#[derive(Clone, Copy)]
pub struct Avx2;
/// Four 128-bit registers (SSE2, the x86-64 baseline), or a plain array elsewhere.
#[derive(Clone, Copy)]
pub struct Base;

#[cfg(target_arch = "x86_64")]
impl V16 for Avx512 {
    type V = __m512;
    const REGS: usize = 1;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn madd(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
}

#[cfg(target_arch = "x86_64")]
impl V16 for Avx2 {
    type V = [__m256; 2];
    const REGS: usize = 2;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        unsafe { [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))] }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        unsafe {
            _mm256_storeu_ps(p, v[0]);
            _mm256_storeu_ps(p.add(8), v[1]);
        }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        unsafe { [_mm256_set1_ps(x); 2] }
    }
    #[inline(always)]
    unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        unsafe {
            [
                _mm256_fmadd_ps(a[0], b[0], c[0]),
                _mm256_fmadd_ps(a[1], b[1], c[1]),
            ]
        }
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        unsafe { [_mm256_add_ps(a[0], b[0]), _mm256_add_ps(a[1], b[1])] }
    }
    #[inline(always)]
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
        unsafe { [_mm256_max_ps(a[0], b[0]), _mm256_max_ps(a[1], b[1])] }
    }
}

#[cfg(target_arch = "x86_64")]
impl V16 for Base {
    type V = [__m128; 4];
    const REGS: usize = 4;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        unsafe {
            [
                _mm_loadu_ps(p),
                _mm_loadu_ps(p.add(4)),
                _mm_loadu_ps(p.add(8)),
                _mm_loadu_ps(p.add(12)),
            ]
        }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        for (i, r) in v.into_iter().enumerate() {
            unsafe { _mm_storeu_ps(p.add(4 * i), r) }
        }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        unsafe { [_mm_set1_ps(x); 4] }
    }
    #[inline(always)]
    unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        unsafe { [0, 1, 2, 3].map(|i| _mm_add_ps(_mm_mul_ps(a[i], b[i]), c[i])) }
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        unsafe { [0, 1, 2, 3].map(|i| _mm_add_ps(a[i], b[i])) }
    }
    #[inline(always)]
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
        unsafe { [0, 1, 2, 3].map(|i| _mm_max_ps(a[i], b[i])) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl V16 for Base {
    type V = [f32; 16];
    const REGS: usize = 4;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        unsafe { (p as *const [f32; 16]).read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        unsafe { (p as *mut [f32; 16]).write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        [x; 16]
    }
    #[inline(always)]
    unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i].max(b[i]))
    }
}
