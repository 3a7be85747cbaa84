//! Function processes, started as Lambda starts them, and what the kernel says about them:
//! CPU time and memory.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{because, schedstat, Fallible};

#[derive(Default)]
pub struct Output {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
    /// The first few KiB, shown if the function misbehaves.
    pub head: Mutex<Vec<u8>>,
}

impl Output {
    pub fn record(&self, chunk: &[u8]) {
        self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let lines = chunk.iter().filter(|b| **b == b'\n').count();
        self.lines.fetch_add(lines as u64, Ordering::Relaxed);
        let mut head = self.head.lock().expect("head");
        let room = (8 * 1024usize).saturating_sub(head.len());
        head.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    pub fn head(&self) -> String {
        String::from_utf8_lossy(&self.head.lock().expect("head")).into_owned()
    }

    pub fn totals(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.lines.load(Ordering::Relaxed),
        )
    }
}

/// A started function: stdout and stderr drained by two blocking threads; killed and reaped
/// when dropped.
pub struct Process {
    pub child: Child,
    pub spawned: Instant,
    pub output: Arc<Output>,
    pub drains: Vec<std::thread::JoinHandle<()>>,
}

impl Process {
    pub fn spawn(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Fallible<Self> {
        let mut command = Command::new(bin);
        command
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let output = Arc::new(Output::default());
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        let drains = streams
            .into_iter()
            .map(|mut stream| {
                let output = output.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        output.record(&buf[..n]);
                    }
                })
            })
            .collect();
        Ok(Self {
            child,
            spawned,
            output,
            drains,
        })
    }

    /// CPU time so far.
    pub fn cpu(&self) -> Fallible<Cpu> {
        let pid = self.child.id();
        let (user, system, faults) = self.cpu_ticks()?;
        let (run_ns, threads) =
            schedstat::on_cpu(&pid.to_string()).map_err(because("/proc/<pid>/task"))?;
        Ok(Cpu {
            ticks: user + system,
            system_ticks: system,
            run_ns,
            threads,
            faults,
        })
    }

    /// User and system CPU time so far, in clock ticks, and page faults (minor + major), all
    /// threads (ended ones included).
    pub fn cpu_ticks(&self) -> Fallible<(u64, u64, u64)> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(because("/proc/<pid>/stat"))?;
        // Fields after the command name (which may hold spaces): state is field 3, minflt 10,
        // majflt 12, utime 14, stime 15.
        let rest = stat
            .rfind(')')
            .map(|i| &stat[i + 1..])
            .ok_or("malformed /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Fallible<u64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("/proc/<pid>/stat field {n}"))
        };
        Ok((field(14)?, field(15)?, field(10)? + field(12)?))
    }

    pub fn memory(&self) -> Fallible<Memory> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(because("/proc/<pid>/status"))?;
        let kib = |name: &str| -> Fallible<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| format!("/proc/<pid>/status {name}"))
        };
        Ok(Memory {
            hwm_kib: kib("VmHWM:")?,
            rss_kib: kib("VmRSS:")?,
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for drain in self.drains.drain(..) {
            let _ = drain.join();
        }
    }
}

/// A process's CPU time: user + system from `/proc/<pid>/stat` (clock ticks, every thread,
/// ended ones included), and the scheduler's on-CPU time of its live threads from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds: fine enough for init).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// User + system.
    pub ticks: u64,
    pub system_ticks: u64,
    pub run_ns: u64,
    pub threads: usize,
    /// Page faults: what first touches of code and heap cost.
    pub faults: u64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;

    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            ticks: self.ticks - earlier.ticks,
            system_ticks: self.system_ticks.saturating_sub(earlier.system_ticks),
            run_ns: self.run_ns.saturating_sub(earlier.run_ns),
            threads: self.threads,
            faults: self.faults.saturating_sub(earlier.faults),
        }
    }
}

impl std::ops::AddAssign for Cpu {
    fn add_assign(&mut self, other: Cpu) {
        self.ticks += other.ticks;
        self.system_ticks += other.system_ticks;
        self.run_ns += other.run_ns;
        self.threads = self.threads.max(other.threads);
        self.faults += other.faults;
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub hwm_kib: u64,
    pub rss_kib: u64,
}

/// Lets a just-answered function finish its `GET /next` before its counters are read, so that
/// every reading sees it idle.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}
