//! `.sqlx/` (the offline data the query! macros build from) matches the schema: each statement
//! recorded there is described again by a database migrated from `migrations/`, and must take
//! and return exactly what the file says. A migration that breaks a checked statement, or a
//! statement changed without `./dev sqlx-prepare`, fails here (and a statement without data
//! fails the build itself).

use std::path::Path;

use sqlx::{Executor, PgPool};

#[sqlx::test(migrations = "../../migrations")]
async fn sqlx_offline_data_matches_the_migrated_schema(pool: PgPool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.sqlx");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read .sqlx/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no offline data in {}", dir.display());
    let mut stale = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let recorded: serde_json::Value = serde_json::from_str(&text).expect("json");
        let query = recorded["query"].as_str().expect("query text");
        match pool.describe(query).await {
            Ok(fresh) => {
                let fresh = serde_json::to_value(&fresh).expect("describe as json");
                if fresh != recorded["describe"] {
                    stale.push(format!(
                        "{}: recorded {} but the schema gives {fresh}",
                        file.display(),
                        recorded["describe"]
                    ));
                }
            }
            Err(err) => stale.push(format!("{}: {err}\n{query}", file.display())),
        }
    }
    assert!(
        stale.is_empty(),
        ".sqlx/ is stale; run ./dev sqlx-prepare:\n{}",
        stale.join("\n\n")
    );
}
