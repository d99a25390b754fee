//! What the scale benchmark reads while a cell runs: a process's CPU time, resident memory and open
//! file descriptors (from `/proc`), when each alert appeared in the monitor's database, and the
//! monitor's own metrics (head lag, the time per stage).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::watch;

/// Clock ticks per second of `/proc/PID/stat`'s times (`sysconf(_SC_CLK_TCK)`: 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcReading {
    /// User and system CPU time so far, seconds.
    pub cpu_secs: f64,
    /// Resident memory, MiB.
    pub rss_mib: f64,
}

/// Reads `pid` now; `None` once it has exited (or off Linux).
pub fn read_proc(pid: u32) -> Option<ProcReading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state (0), ..., utime (11), stime (12).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Some(ProcReading {
        cpu_secs: ticks / CLK_TCK,
        rss_mib: rss_kib / 1024.0,
    })
}

/// The open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Several processes read together: CPU time summed, memory summed.
pub fn read_all(pids: &[u32]) -> ProcReading {
    pids.iter()
        .filter_map(|p| read_proc(*p))
        .fold(ProcReading::default(), |a, r| ProcReading {
            cpu_secs: a.cpu_secs + r.cpu_secs,
            rss_mib: a.rss_mib + r.rss_mib,
        })
}

/// When each `privileged` alert was first seen stored, by (chain id, block number).
pub type Seen = Arc<Mutex<BTreeMap<(u64, u64), Instant>>>;

/// Polls the monitor's SQLite database every `every` for new `privileged` alerts and notes when
/// each was first seen, until `stop`. Reading is a separate connection: SQLite's WAL lets it read
/// beside the monitor's writes without blocking them.
pub async fn watch_alerts(db: PathBuf, every: Duration, seen: Seen, stop: watch::Receiver<bool>) {
    let task = tokio::task::spawn_blocking(move || {
        let mut last_id = 0i64;
        let mut conn: Option<rusqlite::Connection> = None;
        while !*stop.borrow() {
            if conn.is_none() && db.exists() {
                conn = rusqlite::Connection::open_with_flags(
                    &db,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .ok();
            }
            if let Some(c) = &conn {
                let rows = c
                    .prepare_cached(
                        "SELECT id, chain_id, block_number FROM alerts WHERE id > ?1 AND rule = 'privileged'",
                    )
                    .and_then(|mut s| {
                        s.query_map([last_id], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                        })?
                        .collect::<Result<Vec<_>, _>>()
                    });
                if let Ok(rows) = rows {
                    let now = Instant::now();
                    if let Ok(mut map) = seen.lock() {
                        for (id, chain, block) in rows {
                            last_id = last_id.max(id);
                            map.entry((chain as u64, block as u64)).or_insert(now);
                        }
                    }
                }
            }
            std::thread::sleep(every);
        }
    });
    let _ = task.await;
}

/// The messages not delivered yet (nor given up on) in the monitor's database.
pub fn outbox_depth(db: &Path) -> Option<i64> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ok()?;
    c.query_row(
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// The database's size on disk: the file and its write-ahead log, MiB.
pub fn db_size_mib(db: &Path) -> f64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    (size(db) + size(&wal)) as f64 / (1024.0 * 1024.0)
}

/// The monitor's metrics text, from its `--metrics-addr`.
pub async fn scrape(http: &reqwest::Client, addr: &str) -> Option<String> {
    let r = http
        .get(format!("http://{addr}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    r.text().await.ok()
}

/// Every sample of metric `name` as (labels, value): `name{a="x",b="y"} 1.5`.
pub fn samples<'t>(text: &'t str, name: &str) -> Vec<(&'t str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let (labels, value) = r.split_once('}')?;
                    (labels, value)
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// The value of label `key` in a sample's labels.
pub fn label<'t>(labels: &'t str, key: &str) -> Option<&'t str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// The most blocks any chain's processing is behind its head.
pub fn max_lag(text: &str) -> Option<f64> {
    samples(text, "guardian_monitor_head_lag_blocks")
        .into_iter()
        .map(|(_, v)| v)
        .reduce(f64::max)
}

/// Per stage, summed over the chains: (seconds in total, observations).
pub fn stage_totals(text: &str) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (suffix, sum) in [("_sum", true), ("_count", false)] {
        for (labels, v) in samples(text, &format!("guardian_monitor_stage_seconds{suffix}")) {
            if let Some(stage) = label(labels, "stage") {
                let e = out.entry(stage.to_string()).or_default();
                if sum { e.0 += v } else { e.1 += v }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_is_read_by_name_and_label() {
        let text = "# HELP x\n\
            guardian_monitor_head_lag_blocks{chain=\"a\"} 0\n\
            guardian_monitor_head_lag_blocks{chain=\"b\"} 3\n\
            guardian_monitor_stage_seconds_sum{chain=\"a\",stage=\"rules\"} 0.5\n\
            guardian_monitor_stage_seconds_sum{chain=\"b\",stage=\"rules\"} 0.25\n\
            guardian_monitor_stage_seconds_count{chain=\"a\",stage=\"rules\"} 10\n\
            guardian_monitor_stage_seconds_count{chain=\"b\",stage=\"rules\"} 5\n\
            guardian_monitor_stage_seconds_bucket{chain=\"b\",stage=\"rules\",le=\"0.1\"} 5\n";
        assert_eq!(max_lag(text), Some(3.0));
        assert_eq!(stage_totals(text).get("rules").copied(), Some((0.75, 15.0)));
    }

    #[test]
    fn this_process_has_cpu_time_memory_and_descriptors() {
        let me = std::process::id();
        let r = read_proc(me).expect("linux /proc");
        assert!(r.rss_mib > 0.0);
        assert!(open_fds(me).expect("fds") > 0);
    }
}
