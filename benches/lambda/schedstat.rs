//! On-CPU time as the scheduler counts it (`/proc/<pid>/task/*/schedstat`, nanoseconds): the one
//! CPU measure every CPU ratio of the benchmark uses, on both sides. Shared with
//! `examples/bare-update.rs`, which reads its own (`self`) around its timed calls.

/// The on-CPU nanoseconds of the live threads of process `pid` (a number, or `self`), and how
/// many threads there are. A thread that ended meanwhile is not counted.
pub fn on_cpu(pid: &str) -> std::io::Result<(u64, usize)> {
    let (mut ns, mut threads) = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.filter_map(Result::ok) {
        // A thread that ended meanwhile has no schedstat any more.
        if let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) {
            threads += 1;
            ns += schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok((ns, threads))
}
