//! What the processor's benches share: sources, medians, CPU accounting.

use std::path::Path;

use anyhow::Result;
use sqlx::PgPool;
use vodnest_core::storage::Storage;
use vodnest_testkit::{TestDatabase, clip, storage_config};

/// What every section of a bench needs: a database, storage, and where the sources go.
pub struct Bench {
    pub db: TestDatabase,
    pub pool: PgPool,
    pub storage: Storage,
    pub sources: tempfile::TempDir,
    /// Runs per figure (`BENCH_RUNS`, default 3).
    pub runs: usize,
}

impl Bench {
    pub async fn open() -> Result<Self> {
        let db = TestDatabase::create().await?;
        let pool = PgPool::connect(&db.url).await?;
        vodnest_core::db::MIGRATOR.run(&pool).await?;
        let bench = Self {
            storage: Storage::from_env(&storage_config()?).await,
            pool,
            db,
            sources: tempfile::tempdir()?,
            runs: runs(),
        };
        println!("runs per figure: {} (medians)", bench.runs);
        Ok(bench)
    }

    pub async fn close(self) -> Result<()> {
        self.pool.close().await;
        self.db.drop_database().await
    }
}

/// Whether `section` runs: all do, unless `BENCH_ONLY` names one.
pub fn wanted(section: &str) -> bool {
    std::env::var("BENCH_ONLY")
        .ok()
        .is_none_or(|only| only == section)
}

/// H.264/AAC with a 2 s GOP, as streaming software writes: eligible for the fast path.
pub async fn make_source(path: &Path, seconds: u32, size: &str, bitrate: &str) -> Result<()> {
    make_source_with_gop(path, seconds, size, bitrate, &clip::GOP_2S).await
}

pub async fn make_source_with_gop(
    path: &Path,
    seconds: u32,
    size: &str,
    bitrate: &str,
    gop: &[&str],
) -> Result<()> {
    let rates = ["-b:v", bitrate, "-b:a", "128k"];
    let encode = [&clip::X264[..], gop, &clip::AAC, &rates].concat();
    clip::make(path, seconds, size, true, &encode).await
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// A process's CPU seconds: its own, and its children's that it has waited for.
pub fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    // /proc counts in USER_HZ, 100 per second on every Linux build.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime, stime, cutime and cstime: fields 14 to 17, the 12th to 15th after the name.
    let field = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((
        (field(11)? + field(12)?) / TICKS,
        (field(13)? + field(14)?) / TICKS,
    ))
}

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(3)
}

pub fn median_of<T>(items: &[T], f: impl Fn(&T) -> f64) -> f64 {
    median(items.iter().map(f).collect())
}
