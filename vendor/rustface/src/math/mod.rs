// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

#[inline]
pub fn copy_u8_to_i32(src: &[u8], dest: &mut [i32]) {
    let dest = &mut dest[0..src.len()]; // eliminates a branch from the loop
    for (value, dest) in src.iter().copied().zip(dest.iter_mut()) {
        *dest = i32::from(value);
    }
}

pub fn square(src: &[i32], dest: &mut [u32]) {
    for (value, dest) in src.iter().copied().zip(dest.iter_mut()) {
        *dest = i32::pow(value, 2) as u32;
    }
}

pub unsafe fn abs(src: *const i32, dest: *mut i32, length: usize) {
    for i in 0..length as isize {
        let value = *src.offset(i);
        *dest.offset(i) = if value >= 0 { value } else { -value };
    }
}

pub unsafe fn vector_add(left: *const i32, right: *const i32, dest: *mut i32, length: usize) {
    for i in 0..length as isize {
        *dest.offset(i) = *left.offset(i) + *right.offset(i);
    }
}

pub unsafe fn vector_sub(left: *const i32, right: *const i32, dest: *mut i32, length: usize) {
    for i in 0..length as isize {
        *dest.offset(i) = *left.offset(i) - *right.offset(i);
    }
}

/// Dot product of the common prefix of `left` and `right`.
///
/// fer-batch patch: eight independent partial sums (which the compiler keeps in SIMD registers)
/// instead of one sequential sum. The result differs from the sequential sum only by float
/// rounding (a few ulps for SeetaFace's MLP layers).
pub fn vector_inner_product(left: &[f32], right: &[f32]) -> f32 {
    let n = left.len().min(right.len());
    let (left, right) = (&left[..n], &right[..n]);
    let (lc, rc) = (left.chunks_exact(8), right.chunks_exact(8));
    let (lr, rr) = (lc.remainder(), rc.remainder());
    let mut acc = [0f32; 8];
    for (l, r) in lc.zip(rc) {
        for i in 0..8 {
            acc[i] += l[i] * r[i];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (l, r) in lr.iter().zip(rr) {
        sum += l * r;
    }
    sum
}

/// [`vector_inner_product`] of `input` with four weight rows at once: each row gets exactly
/// the value `vector_inner_product(input, row)` returns (same eight partial sums, same order),
/// but the four rows' 32 sums are independent chains, so they overlap in the pipeline instead
/// of waiting on one chain's add latency; `input` is also loaded once for four rows.
///
/// fer-batch patch (used by the SURF-MLP layers); test `four_rows_equal_four_single_products`.
pub fn vector_inner_product4(input: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    let n = rows.iter().fold(input.len(), |n, r| n.min(r.len()));
    let full = n / 8 * 8;
    let mut acc = [[0f32; 8]; 4];
    let mut i = 0;
    while i < full {
        let x = &input[i..i + 8];
        for (acc, row) in acc.iter_mut().zip(rows.iter()) {
            let w = &row[i..i + 8];
            for k in 0..8 {
                acc[k] += x[k] * w[k];
            }
        }
        i += 8;
    }
    let mut out = [0f32; 4];
    for ((o, a), row) in out.iter_mut().zip(acc.iter()).zip(rows.iter()) {
        let mut sum = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
        for (l, r) in input[full..n].iter().zip(&row[full..n]) {
            sum += l * r;
        }
        *o = sum;
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn test_square() {
        let mut vec = vec![1, 2, 3];
        square(&[1, 2, 3], &mut vec);
        assert_eq!(vec![1, 4, 9], vec);
    }

    #[test]
    fn test_abs() {
        let mut vec = vec![-1, 2, -3];
        unsafe { abs(vec.as_ptr(), vec.as_mut_ptr(), vec.len()) };
        assert_eq!(vec![1, 2, 3], vec);
    }

    #[test]
    fn test_vector_add() {
        let mut vec = vec![1, 2, 3];
        unsafe { vector_add(vec.as_ptr(), vec.as_ptr(), vec.as_mut_ptr(), vec.len()) };
        assert_eq!(vec![2, 4, 6], vec);
    }

    #[test]
    fn test_vector_sub() {
        let mut vec = vec![1, 2, 3];
        unsafe { vector_sub(vec.as_ptr(), vec.as_ptr(), vec.as_mut_ptr(), vec.len()) };
        assert_eq!(vec![0, 0, 0], vec);
    }

    #[test]
    fn test_vector_inner_product() {
        let vec = vec![1.0, 2.0, 3.0];
        let result = vector_inner_product(&vec, &vec);
        assert_eq!(14.0, result);
        let long: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let exact: f32 = long.iter().map(|x| x * x).sum();
        assert_eq!(vector_inner_product(&long, &long), exact);
    }

    #[test]
    fn four_rows_equal_four_single_products() {
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        for n in [0usize, 3, 8, 13, 64, 100, 257] {
            let input: Vec<f32> = (0..n).map(|_| next()).collect();
            let rows: Vec<Vec<f32>> = (0..4).map(|_| (0..n).map(|_| next() * 3.0).collect()).collect();
            let four = vector_inner_product4(&input, [&rows[0], &rows[1], &rows[2], &rows[3]]);
            for (k, row) in rows.iter().enumerate() {
                assert_eq!(four[k].to_bits(), vector_inner_product(&input, row).to_bits(), "n {n} row {k}");
            }
        }
    }
}
