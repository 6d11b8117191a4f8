//! Which CPUs a thread runs on. The server keeps its own threads (HTTP, the database's, the
//! pools') on a few CPUs of its own and starts every process (the runner spawner, the fork
//! server, runners, and so every sandbox) on all the CPUs it was given: a hand-off between two
//! of its threads then stays on one CPU, where waking a thread on another costs an interrupt
//! between CPUs (20-37 µs a hand-off on this project's virtual machine, against 3-5 µs on one
//! CPU: the ignored test `print_hand_off_cost`, docs/PERFORMANCE.md).

use crate::error::SysError;
use crate::sys;

/// The CPUs the process was started on, ascending: its main thread's (the server pins only
/// threads it starts, never the main thread, [`pin_this_thread`]).
pub fn of_process() -> Result<Vec<usize>, SysError> {
    sys::affinity(i32::try_from(std::process::id()).unwrap_or(0))
}

/// The CPUs the calling thread may run on, ascending.
pub fn of_this_thread() -> Result<Vec<usize>, SysError> {
    sys::affinity(0)
}

/// Keeps the calling thread on `cpus`; the threads and processes it starts from now on
/// inherit them.
pub fn pin_this_thread(cpus: &[usize]) -> Result<(), SysError> {
    sys::set_affinity(cpus)
}

/// Runs `start` (which starts a process) with the calling thread on every CPU of the process,
/// so that what it starts runs on all of them whatever the thread's own CPUs, then gives the
/// thread its CPUs back. If the CPUs cannot be read or changed, `start` runs as it is.
pub fn on_process_cpus<T>(start: impl FnOnce() -> T) -> T {
    let (Ok(own), Ok(all)) = (of_this_thread(), of_process()) else {
        return start();
    };
    if own == all || pin_this_thread(&all).is_err() {
        return start();
    }
    let started = start();
    let _ = pin_this_thread(&own);
    started
}

/// How many threads of the process can run at once: [`std::thread::available_parallelism`]
/// (the CPUs and the cgroup's CPU quota) over the process's CPUs, not only the calling
/// thread's, which may be pinned to a few.
pub fn available() -> std::io::Result<std::num::NonZeroUsize> {
    on_process_cpus(std::thread::available_parallelism)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine's first CPU and all of them; fails loudly on a machine of one CPU, where
    /// nothing here can be told apart.
    fn first_and_all() -> (Vec<usize>, Vec<usize>) {
        let all = of_process().expect("the process's CPUs");
        assert!(
            all.len() >= 2,
            "these tests need 2 CPUs, this process has {all:?}"
        );
        (vec![all[0]], all)
    }

    #[test]
    fn a_pinned_thread_starts_threads_on_its_cpus_and_processes_on_the_process_cpus() {
        let (first, all) = first_and_all();
        let (first_, all_) = (first.clone(), all.clone());
        std::thread::spawn(move || {
            pin_this_thread(&first_).unwrap();
            assert_eq!(of_this_thread().unwrap(), first_);
            assert_eq!(
                of_process().unwrap(),
                all_,
                "the main thread keeps its CPUs"
            );
            let inherited = std::thread::spawn(of_this_thread).join().unwrap().unwrap();
            assert_eq!(inherited, first_);
            let child = on_process_cpus(|| {
                std::process::Command::new("/bin/grep")
                    .args(["Cpus_allowed_list", "/proc/self/status"])
                    .output()
            })
            .unwrap();
            assert_eq!(
                of_this_thread().unwrap(),
                first_,
                "the thread's CPUs are back"
            );
            assert_eq!(available().unwrap().get(), all_.len());
            assert_eq!(std::thread::available_parallelism().unwrap().get(), 1);
            String::from_utf8(child.stdout).unwrap()
        })
        .join()
        .map(|line| {
            let expected = if all.len() == all[all.len() - 1] + 1 - all[0] {
                format!("{}-{}", all[0], all[all.len() - 1])
            } else {
                all.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            assert_eq!(
                line.split_whitespace().nth(1),
                Some(expected.as_str()),
                "{line}"
            );
        })
        .unwrap();
    }

    /// Round trips between two threads over a pair of channels, both on the first CPU and
    /// on two CPUs: what a hand-off costs on this machine (docs/PERFORMANCE.md).
    /// `cargo test --release -p pyth-on-sandbox --lib print_hand_off_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement: prints, asserts nothing"]
    fn print_hand_off_cost() {
        let (first, all) = first_and_all();
        for (name, theirs) in [("one CPU", first[0]), ("two CPUs", all[1])] {
            let ours = first.clone();
            let per_trip = std::thread::spawn(move || {
                pin_this_thread(&ours).unwrap();
                let (to, from_us) = std::sync::mpsc::channel::<u32>();
                let (back, from_them) = std::sync::mpsc::channel::<u32>();
                let echo = std::thread::spawn(move || {
                    pin_this_thread(&[theirs]).unwrap();
                    while let Ok(n) = from_us.recv() {
                        back.send(n).unwrap();
                    }
                });
                let trips = 20_000;
                let started = std::time::Instant::now();
                for n in 0..trips {
                    to.send(n).unwrap();
                    assert_eq!(from_them.recv().unwrap(), n);
                }
                let per_trip = started.elapsed() / trips;
                drop(to);
                echo.join().unwrap();
                per_trip
            })
            .join()
            .unwrap();
            println!("{name}: {per_trip:?} per round trip (two hand-offs)");
        }
    }
}
