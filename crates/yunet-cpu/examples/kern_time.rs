use std::time::Instant;
fn main() {
    let n = 160 * 96;
    for &(cin, cout) in &[(32usize, 64usize), (16, 16), (64, 64)] {
        let x = vec![0.5f32; n * cin];
        let w = vec![0.1f32; cin * cout];
        let b = vec![0.0f32; cout];
        let mut out = vec![0f32; n * cout];
        let t = Instant::now();
        for _ in 0..10 {
            yunet_cpu::kernels::pointwise::<yunet_cpu::simd::Base>(&x, n, cin, &w, &b, cout, &mut out);
        }
        let dt = t.elapsed().as_secs_f64() / 10.0;
        println!("pw {cin}->{cout}: {:.2} ms, {:.1} GMAC/s", dt * 1e3, (n * cin * cout) as f64 / dt / 1e9);
        let wd = vec![0.1f32; 9 * cout];
        let t = Instant::now();
        for _ in 0..10 {
            yunet_cpu::kernels::depthwise::<yunet_cpu::simd::Base>(&out.clone(), 160, 96, cout, &wd, &b, true, &vec![0f32; 160 * 64], &mut out);
        }
        let dt = t.elapsed().as_secs_f64() / 10.0;
        println!("dw {cout}: {:.2} ms", dt * 1e3);
    }
}
