//! The store: one directory per run, `store/latest` pointing at the newest.
//!
//! ```text
//! store/<protocol>-<workload>/<timestamp>/
//!     config.json  history.jsonl  history.edn  results.json  report.html
//!     n1.log ... n5.log   data/n1 ... (the nodes' data dirs)
//! store/latest -> <protocol>-<workload>/<timestamp>
//! ```

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC timestamp `YYYYMMDDTHHMMSS.mmm` (civil-from-days, no dependency).
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Creates a fresh run directory under `store` and points `store/latest`
/// at it.
pub fn new_run_dir(store: &Path, protocol: &str, workload: &str) -> std::io::Result<PathBuf> {
    let group = format!("{protocol}-{workload}");
    let mut dir = store.join(&group).join(timestamp(SystemTime::now()));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = store
            .join(&group)
            .join(format!("{}-{n}", timestamp(SystemTime::now())));
    }
    std::fs::create_dir_all(&dir)?;
    let latest = store.join("latest");
    let _ = std::fs::remove_file(&latest);
    let rel = dir.strip_prefix(store).unwrap_or(&dir).to_path_buf();
    std::os::unix::fs::symlink(rel, &latest)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_civil_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(timestamp(t), "20261118T110640.123");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000.000");
    }
}
