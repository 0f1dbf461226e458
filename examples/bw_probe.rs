fn main() {
    let n = 2_629_800usize;
    let v: Vec<f64> = (0..n).map(|i| 30000.0 + (i % 1000) as f64).collect();
    let w: Vec<f64> = (0..n).map(|i| 30000.0 + (i % 777) as f64).collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let s: f64 = v.iter().sum();
        let el = t.elapsed();
        let t2 = std::time::Instant::now();
        let mut acc = [0.0f64; 4];
        for c in v.chunks_exact(4) {
            for l in 0..4 {
                acc[l] += c[l];
            }
        }
        let el2 = t2.elapsed();
        let t3 = std::time::Instant::now();
        let mut acc3 = [0.0f64; 4];
        let mut prev = 1.0;
        for (k, c) in w.chunks_exact(4).enumerate() {
            let e = [c[0] * 2.0 + 1.0, c[1] * 2.0 + 1.0, c[2] * 2.0 + 1.0, c[3] * 2.0 + 1.0];
            let p = [prev, e[0], e[1], e[2]];
            for l in 0..4 {
                let r = e[l] / p[l] - 1.0;
                acc3[l] += r;
            }
            prev = e[3];
            let _ = k;
        }
        let el3 = t3.elapsed();
        println!(
            "seq sum {el:?} ({:.0} M/s)  4-lane {el2:?} ({:.0} M/s) div-lanes {el3:?} ({:.0} M/s) {s} {:?} {:?}",
            n as f64 / el.as_secs_f64() / 1e6,
            n as f64 / el2.as_secs_f64() / 1e6,
            n as f64 / el3.as_secs_f64() / 1e6,
            acc[0],
            acc3[0]
        );
    }
}
