use super::*;

#[test]
fn parses_nginx_worker_cpu_affinity() {
    assert_eq!(CpuAffinity::parse("auto"), Ok(CpuAffinity::Auto(None)));
    assert_eq!(CpuAffinity::parse("off"), Ok(CpuAffinity::Off));
    // The rightmost digit is CPU 0.
    assert_eq!(CpuAffinity::parse("auto 1010"), Ok(CpuAffinity::Auto(Some(vec![1, 3]))));
    assert_eq!(CpuAffinity::parse("0001 0010  0110"), Ok(CpuAffinity::Masks(vec![vec![0], vec![1], vec![1, 2]])));
    for bad in ["", "on", "0000", "12", "auto auto", "auto 01 10", "0x3", "01 off"] {
        assert!(CpuAffinity::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn auto_puts_worker_n_on_the_nth_usable_cpu_and_wraps_around() {
    let auto = CpuAffinity::Auto(None);
    assert_eq!(auto.placement(2, &[0, 1, 2, 3]), vec![vec![0], vec![1]]);
    assert_eq!(auto.placement(3, &[0, 1]), vec![vec![0], vec![1], vec![0]]);
    // A cpuset of its own: the node's CPUs, whatever their numbers.
    assert_eq!(auto.placement(2, &[4, 6]), vec![vec![4], vec![6]]);
    let masked = CpuAffinity::Auto(Some(vec![1, 3]));
    assert_eq!(masked.placement(3, &[0, 1, 2, 3]), vec![vec![1], vec![3], vec![1]]);
    // Nothing usable in the mask: left to the scheduler rather than failing.
    assert_eq!(masked.placement(2, &[0, 2]), vec![Vec::<usize>::new(), Vec::new()]);
}

#[test]
fn masks_go_to_workers_in_order_and_the_last_serves_the_rest() {
    let masks = CpuAffinity::Masks(vec![vec![0], vec![1, 2]]);
    assert_eq!(masks.placement(3, &[0, 1, 2]), vec![vec![0], vec![1, 2], vec![1, 2]]);
    assert_eq!(CpuAffinity::Off.placement(2, &[0, 1]), vec![Vec::<usize>::new(), Vec::new()]);
}
