//! Taking over another tool's history, so that switching to `migrate apply`
//! runs nothing twice (`apply --adopt TOOL`).
//!
//! Each tool is one row of `TOOLS`: its name, its table, the columns that
//! tell its table apart, one query that reads the table as uniform
//! [`Record`]s, how it names a version after a file, and the checksum it
//! keeps (if any). The formats, as each tool writes them on PostgreSQL:
//!
//! | tool | table | a version is | checksum |
//! | --- | --- | --- | --- |
//! | refinery | `refinery_schema_history (version int4, name, applied_on, checksum)` | `V{n}__` | SipHasher13 of name, version and raw text ([`refinery_core::Migration::checksum`]), decimal |
//! | sqlx | `_sqlx_migrations (version int8, description, installed_on, success, checksum bytea, execution_time)` | `{n}_` as `i64` | SHA-384 of the file's text as read |
//! | flyway | `flyway_schema_history (installed_rank, version, description, type, script, checksum int4, installed_by, installed_on, execution_time, success)` | `V{1_2}__` as `1.2` | CRC-32 of the lines' UTF-8 bytes without line breaks (and without a BOM), as a signed `int` |
//! | golang-migrate | `schema_migrations (version int8, dirty bool)` | `{n}_` | none; one row, the last version run (all before it ran too) |
//! | diesel | `__diesel_schema_migrations (version varchar(50), run_on)` | the directory name up to its first `_`, dashes removed | none |
//! | dbmate | `schema_migrations (version varchar(128))` | the file name's leading digits | none |
//! | goose | `goose_db_version (id, version_id int8, is_applied, tstamp)` | `{n}_` as `i64`; a version's newest row counts, version 0 is goose's own | none |
//! | prisma | `_prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)` | the directory name | SHA-256 of `migration.sql`, hex (line endings either way; old rows unpadded) |
//!
//! A record is applied, failed (a `success = false` row of sqlx or Flyway,
//! golang-migrate's `dirty`, a Prisma migration neither finished nor rolled
//! back), or marks every version up to it applied (golang-migrate's row,
//! Flyway's `BASELINE`). [`check`] matches every record with its file and
//! the file with the tool's checksum, and refuses the whole adoption on the
//! first record that is failed, has no file, or does not match. The
//! migrations that pass are then recorded as applied in our history
//! ([`super::history::adopt_migration`]); versions the tool never ran stay
//! pending. This module reads the files and the tool's table; it writes
//! nothing itself.

use super::ApplyError;
use crate::pg::Ident;
use crate::plan::{MigrationPlan, Plan};
use postgres::GenericClient;
use std::path::Path;

/// A tool whose history `apply --adopt` takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopt {
    Refinery,
    Sqlx,
    Flyway,
    GolangMigrate,
    Diesel,
    Dbmate,
    Goose,
    Prisma,
}

/// What one tool writes, and how to read it back.
struct Tool {
    adopt: Adopt,
    /// The name `--adopt` takes.
    name: &'static str,
    /// The table the tool records its migrations in (its default name).
    table: &'static str,
    /// Columns the table must have to be this tool's.
    columns: &'static [&'static str],
    /// A column that would make the table another tool's (dbmate and
    /// golang-migrate both call theirs `schema_migrations`).
    not_column: Option<&'static str>,
    /// Reads the table (`{t}` is its quoted name) as `version text, name
    /// text, checksum text (NULL: none), state text` in the order the tool
    /// wrote the rows, `state` being a [`State`] name.
    query: &'static str,
    /// The version the tool gives a file.
    version: fn(&Path) -> Option<String>,
    /// The file's checksum as the tool records it, if the tool keeps one;
    /// `Err` says why the tool would not accept the file.
    checksum: Option<Checksum>,
    /// Whether a recorded checksum matches the computed one.
    matches: fn(recorded: &str, computed: &str, text: &str) -> bool,
}

/// A file's checksum (path, text as on disk) as a tool records it; `Err`
/// says why the tool would not accept the file.
type Checksum = fn(&Path, &str) -> Result<String, String>;

/// Every tool `--adopt` knows, in the order `--help` lists them.
static TOOLS: &[Tool] = &[
    Tool {
        adopt: Adopt::Refinery,
        name: "refinery",
        table: "refinery_schema_history",
        columns: &["version", "name", "checksum"],
        not_column: None,
        query: "SELECT version::text, coalesce(name, ''), coalesce(checksum, ''), 'applied' FROM {t} \
                ORDER BY version",
        version: refinery_version,
        checksum: Some(refinery_file_checksum),
        matches: same,
    },
    Tool {
        adopt: Adopt::Sqlx,
        name: "sqlx",
        table: "_sqlx_migrations",
        columns: &["version", "description", "success", "checksum"],
        not_column: None,
        query: "SELECT version::text, description, encode(checksum, 'hex'), \
                CASE WHEN success THEN 'applied' ELSE 'failed' END FROM {t} ORDER BY version",
        version: leading_integer,
        checksum: Some(sqlx_checksum),
        matches: same_hex,
    },
    Tool {
        adopt: Adopt::Flyway,
        name: "flyway",
        table: "flyway_schema_history",
        columns: &[
            "installed_rank",
            "version",
            "description",
            "type",
            "checksum",
            "success",
        ],
        not_column: None,
        // Repeatable migrations (no version) and the SCHEMA marker are not
        // versions; a DELETE row (`flyway repair`) or a successful undo
        // takes its version back out.
        query: "SELECT coalesce(version, ''), description, checksum::text, \
                CASE WHEN version IS NULL OR type = 'SCHEMA' THEN 'ignored' \
                     WHEN NOT success THEN 'failed' \
                     WHEN type = 'BASELINE' THEN 'through' \
                     WHEN type = 'DELETE' OR type LIKE 'UNDO%' THEN 'removed' \
                     ELSE 'applied' END \
                FROM {t} ORDER BY installed_rank",
        version: flyway_version,
        checksum: Some(flyway_checksum),
        matches: same,
    },
    Tool {
        adopt: Adopt::GolangMigrate,
        name: "golang-migrate",
        table: "schema_migrations",
        columns: &["version", "dirty"],
        not_column: None,
        query:
            "SELECT version::text, '', NULL::text, CASE WHEN dirty THEN 'failed' ELSE 'through' END FROM {t}",
        version: leading_integer,
        checksum: None,
        matches: same,
    },
    Tool {
        adopt: Adopt::Diesel,
        name: "diesel",
        table: "__diesel_schema_migrations",
        columns: &["version", "run_on"],
        not_column: None,
        query: "SELECT version::text, '', NULL::text, 'applied' FROM {t} ORDER BY version",
        version: diesel_version,
        checksum: None,
        matches: same,
    },
    Tool {
        adopt: Adopt::Dbmate,
        name: "dbmate",
        table: "schema_migrations",
        columns: &["version"],
        not_column: Some("dirty"),
        query: "SELECT version::text, '', NULL::text, 'applied' FROM {t} ORDER BY version",
        version: leading_digits,
        checksum: None,
        matches: same,
    },
    Tool {
        adopt: Adopt::Goose,
        name: "goose",
        table: "goose_db_version",
        columns: &["id", "version_id", "is_applied"],
        not_column: None,
        // Version 0 is the row goose writes when it creates the table.
        query: "SELECT version_id::text, '', NULL::text, \
                CASE WHEN is_applied THEN 'applied' ELSE 'removed' END \
                FROM {t} WHERE version_id <> 0 ORDER BY id",
        version: leading_integer,
        checksum: None,
        matches: same,
    },
    Tool {
        adopt: Adopt::Prisma,
        name: "prisma",
        table: "_prisma_migrations",
        columns: &["migration_name", "checksum", "finished_at", "rolled_back_at"],
        not_column: None,
        query: "SELECT migration_name, migration_name, checksum, \
                CASE WHEN rolled_back_at IS NOT NULL THEN 'ignored' \
                     WHEN finished_at IS NULL THEN 'failed' ELSE 'applied' END \
                FROM {t} ORDER BY started_at, migration_name",
        version: parent_name,
        checksum: Some(prisma_checksum),
        matches: prisma_matches,
    },
];

impl Adopt {
    /// Every name `--adopt` takes.
    pub const NAMES: &'static [&'static str] = &[
        "refinery",
        "sqlx",
        "flyway",
        "golang-migrate",
        "diesel",
        "dbmate",
        "goose",
        "prisma",
    ];

    /// The tool called `name` (one of [`Adopt::NAMES`]).
    pub fn from_name(name: &str) -> Option<Adopt> {
        TOOLS.iter().find(|t| t.name == name).map(|t| t.adopt)
    }

    fn tool(self) -> &'static Tool {
        TOOLS
            .iter()
            .find(|t| t.adopt == self)
            .expect("every Adopt has a row in TOOLS")
    }

    /// The name `--adopt` takes, e.g. `golang-migrate`.
    pub fn name(self) -> &'static str {
        self.tool().name
    }

    /// The table the tool records its migrations in.
    pub fn table(self) -> &'static str {
        self.tool().table
    }

    /// Whether the tool keeps a checksum that [`check`] compares.
    pub fn keeps_checksums(self) -> bool {
        self.tool().checksum.is_some()
    }
}

/// What a record says about its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Ran to the end.
    Applied,
    /// Started and did not finish: the database may hold part of it.
    Failed,
    /// This version and every one before it count as applied.
    Through,
}

/// One version in another tool's history, after folding its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The version as the tool writes it (`3`, `1.2`, `20240101000000_init`).
    pub version: String,
    /// The tool's name or description of the migration (may be empty).
    pub name: String,
    /// The checksum as the tool stored it, if it keeps one.
    pub checksum: Option<String>,
    pub state: State,
}

/// The history table of `tool` as [`Record`]s in the order the tool wrote
/// them, or `None` when the table does not exist. A table of that name with
/// other columns is an error, not someone else's history read wrongly.
pub fn history(client: &mut impl GenericClient, tool: Adopt) -> Result<Option<Vec<Record>>, ApplyError> {
    let t = tool.tool();
    let failed = |message: String| ApplyError::AdoptRead {
        table: t.table,
        message,
    };
    let columns: Option<Vec<String>> = client
        .query_one(
            "SELECT CASE WHEN to_regclass($1::text) IS NULL THEN NULL ELSE \
             ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1::text) \
                   AND attnum > 0 AND NOT attisdropped) END",
            &[&Ident::new(t.table).to_string()],
        )
        .map_err(|e| failed(super::run::error_text(&e)))?
        .get(0);
    let Some(columns) = columns else {
        return Ok(None);
    };
    if let Some(missing) = t.columns.iter().find(|c| !columns.iter().any(|have| have == *c)) {
        return Err(failed(format!(
            "it has no column {missing}, so it is not {}'s table",
            t.name
        )));
    }
    if let Some(other) = t.not_column.filter(|c| columns.iter().any(|have| have == c)) {
        let owner = TOOLS
            .iter()
            .find(|o| o.table == t.table && o.columns.contains(&other))
            .map_or("another tool", |o| o.name);
        return Err(failed(format!(
            "it has a column {other}, so it is {owner}'s table, not {}'s",
            t.name
        )));
    }
    let sql = t.query.replace("{t}", &Ident::new(t.table).to_string());
    let rows = client
        .query(sql.as_str(), &[])
        .map_err(|e| failed(super::run::error_text(&e)))?;
    let rows = rows.into_iter().map(|r| {
        let state: String = r.get(3);
        (r.get(0), r.get(1), r.get(2), state)
    });
    Ok(Some(fold(rows)))
}

/// Folds a tool's rows, in the order it wrote them, into one record per
/// version: a later row of a version replaces the earlier, `removed` takes
/// the version out, `ignored` rows are not versions.
fn fold(rows: impl Iterator<Item = (String, String, Option<String>, String)>) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for (version, name, checksum, state) in rows {
        let state = match state.as_str() {
            "applied" => State::Applied,
            "failed" => State::Failed,
            "through" => State::Through,
            "removed" => {
                out.retain(|r| r.version != version);
                continue;
            }
            _ => continue,
        };
        out.retain(|r| r.version != version);
        out.push(Record {
            version,
            name,
            checksum: checksum.filter(|c| !c.is_empty()),
            state,
        });
    }
    out
}

/// Which tool's history this database holds with at least one version in
/// it, if any (the first in `TOOLS` order), so that a plain `apply` on a
/// database another tool migrated is refused rather than run twice.
/// dbmate's table is not looked for: Rails (and many hand-made histories)
/// keep a `schema_migrations (version)` of the same shape.
pub fn detect(client: &mut impl GenericClient) -> Result<Option<(Adopt, usize)>, ApplyError> {
    for t in TOOLS.iter().filter(|t| t.adopt != Adopt::Dbmate) {
        match history(client, t.adopt) {
            Ok(Some(records)) if !records.is_empty() => return Ok(Some((t.adopt, records.len()))),
            // A table of that name that is not the tool's is somebody
            // else's business here.
            Ok(_) | Err(ApplyError::AdoptRead { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The migrations of `plan` that `records` of `tool` say were applied, each
/// file checked against the tool's checksum where it keeps one. Refuses the
/// whole adoption when a record is failed ([`ApplyError::AdoptFailed`]),
/// names a version no file has ([`ApplyError::AdoptMissing`]), or a file
/// does not match ([`ApplyError::AdoptChecksum`]).
pub fn check<'p>(
    plan: &'p Plan,
    tool: Adopt,
    records: &[Record],
) -> Result<Vec<&'p MigrationPlan>, ApplyError> {
    let t = tool.tool();
    let versions: Vec<Option<String>> = plan
        .migrations
        .iter()
        .map(|m| (t.version)(&m.file.path))
        .collect();
    let find = |version: &str| versions.iter().position(|v| v.as_deref() == Some(version));
    let mut adopted = vec![false; plan.migrations.len()];
    for record in records {
        let version = normalise_version(tool, &record.version);
        let found = find(&version);
        if record.state == State::Failed {
            return Err(ApplyError::AdoptFailed {
                what: found.map_or_else(
                    || format!("version {}", record.version),
                    |i| plan.migrations[i].file.path.display().to_string(),
                ),
                tool: t.name,
                table: t.table,
                version: record.version.clone(),
            });
        }
        if record.state == State::Through && tool == Adopt::Flyway {
            // A Flyway baseline needs no file: every version up to it counts.
            let upto = flyway_parts(&version);
            for (i, v) in versions.iter().enumerate() {
                if v.as_deref().is_some_and(|v| flyway_parts(v) <= upto) {
                    adopted[i] = true;
                }
            }
            continue;
        }
        let Some(i) = found else {
            return Err(ApplyError::AdoptMissing {
                table: t.table,
                version: record.version.clone(),
                name: record.name.clone(),
            });
        };
        if record.state == State::Through {
            adopted[..=i].iter_mut().for_each(|a| *a = true);
        }
        adopted[i] = true;
        let (Some(compute), Some(recorded)) = (t.checksum, &record.checksum) else {
            continue;
        };
        let m = &plan.migrations[i];
        let path = m.file.path.display().to_string();
        let mismatch = |computed: String| ApplyError::AdoptChecksum {
            path: path.clone(),
            tool: t.name,
            version: record.version.clone(),
            recorded: recorded.clone(),
            computed,
        };
        // The tools hash the file as it is on disk, not our normalised text.
        let text = std::fs::read_to_string(&m.file.path).map_err(|e| mismatch(format!("unreadable: {e}")))?;
        let computed = compute(&m.file.path, &text).map_err(|why| mismatch(format!("none: {why}")))?;
        if !(t.matches)(recorded.trim(), &computed, &text) {
            return Err(mismatch(computed));
        }
    }
    Ok(plan
        .migrations
        .iter()
        .zip(adopted)
        .filter_map(|(m, a)| a.then_some(m))
        .collect())
}

/// A recorded version as [`Tool::version`] would write it for a file.
fn normalise_version(tool: Adopt, version: &str) -> String {
    match tool {
        Adopt::Flyway => flyway_parts(version)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
        _ => version.trim().to_string(),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The digits a file name starts with (dbmate keeps them as text).
fn leading_digits(path: &Path) -> Option<String> {
    let name = file_name(path);
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// The number before the first `_` (sqlx, golang-migrate, goose parse it as
/// an integer, so `001` is `1`).
fn leading_integer(path: &Path) -> Option<String> {
    let name = file_name(path);
    let (head, _) = name.split_once('_')?;
    head.parse::<i64>().ok().map(|v| v.to_string())
}

/// diesel's version: the directory name up to its first `_`, without dashes
/// (`2024-01-02-030405_users/up.sql` is `20240102030405`).
fn diesel_version(path: &Path) -> Option<String> {
    let dir = parent_name(path)?;
    dir.split('_').next().map(|v| v.replace('-', ""))
}

/// Prisma's migration name: the directory holding `migration.sql`.
fn parent_name(path: &Path) -> Option<String> {
    Some(path.parent()?.file_name()?.to_string_lossy().into_owned())
}

fn refinery_version(path: &Path) -> Option<String> {
    refinery_checksum(&stem(path), "").map(|(v, _)| v.to_string())
}

/// Flyway's `V1_2__name.sql` is version `1.2`.
fn flyway_version(path: &Path) -> Option<String> {
    let name = file_name(path);
    let rest = name.strip_prefix('V').or_else(|| name.strip_prefix('v'))?;
    let (version, _) = rest.split_once("__")?;
    let parts = flyway_parts(version);
    (!parts.is_empty()).then(|| parts.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// A Flyway version's numeric parts (`.` or `_` between them), trailing
/// zeros dropped as Flyway compares them (`1.0` is `1`).
fn flyway_parts(version: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = version
        .split(['.', '_'])
        .map(|p| p.trim().parse().unwrap_or(u64::MAX))
        .collect();
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    parts
}

/// The checksum refinery computes for a file: its stem (`V3__add_users`)
/// and its text exactly as on disk. `None` when refinery would not accept
/// the name.
pub fn refinery_checksum(stem: &str, raw_text: &str) -> Option<(i64, u64)> {
    let migration = refinery_core::Migration::unapplied(stem, raw_text).ok()?;
    Some((i64::from(migration.version()), migration.checksum()))
}

fn refinery_file_checksum(path: &Path, text: &str) -> Result<String, String> {
    refinery_checksum(&stem(path), text)
        .map(|(_, sum)| sum.to_string())
        .ok_or_else(|| "refinery does not accept the file name".to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sqlx: SHA-384 of the text as read (`sqlx_core::migrate::migration::checksum`).
fn sqlx_checksum(_: &Path, text: &str) -> Result<String, String> {
    use sha2::Digest;
    Ok(hex(&sha2::Sha384::digest(text.as_bytes())))
}

/// Flyway: CRC-32 of every line's UTF-8 bytes, read with Java's
/// `BufferedReader.readLine` (which drops `\n`, `\r\n` and `\r`) after a
/// BOM is filtered from the first line, as a signed 32-bit `int`.
fn flyway_checksum(_: &Path, text: &str) -> Result<String, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bytes = text.bytes().filter(|b| *b != b'\n' && *b != b'\r');
    Ok((crc32(bytes) as i32).to_string())
}

/// CRC-32 (IEEE 802.3, as `java.util.zip.CRC32`).
fn crc32(bytes: impl Iterator<Item = u8>) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Prisma: SHA-256 of `migration.sql`, lowercase hex.
fn prisma_checksum(_: &Path, text: &str) -> Result<String, String> {
    use sha2::Digest;
    Ok(hex(&sha2::Sha256::digest(text.as_bytes())))
}

/// Prisma accepts the file with its line endings either way, and, for rows
/// an old Prisma wrote, hex digits without zero padding
/// (`schema-connector/src/checksum.rs`, `script_matches_checksum`).
fn prisma_matches(recorded: &str, _: &str, text: &str) -> bool {
    use sha2::Digest;
    [
        text.to_string(),
        text.replace("\r\n", "\n"),
        text.replace('\n', "\r\n"),
    ]
    .iter()
    .any(|variant| {
        let digest = sha2::Sha256::digest(variant.as_bytes());
        if recorded.len() == 64 {
            hex(&digest) == recorded
        } else {
            digest.iter().map(|b| format!("{b:x}")).collect::<String>() == recorded
        }
    })
}

fn same(recorded: &str, computed: &str, _: &str) -> bool {
    recorded == computed
}

fn same_hex(recorded: &str, computed: &str, _: &str) -> bool {
    recorded.eq_ignore_ascii_case(computed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_like_refinery_over_name_version_and_raw_text() {
        let (version, sum) = refinery_checksum("V3__add_users", "CREATE TABLE u ();\r\n").unwrap();
        assert_eq!(version, 3);
        let expected = refinery_core::Migration::unapplied("V3__add_users", "CREATE TABLE u ();\r\n")
            .unwrap()
            .checksum();
        assert_eq!(sum, expected);
        // Unlike ours, refinery's checksum sees line endings and names.
        assert_ne!(
            Some(sum),
            refinery_checksum("V3__add_users", "CREATE TABLE u ();\n").map(|c| c.1)
        );
        assert_ne!(
            Some(sum),
            refinery_checksum("V3__add_user", "CREATE TABLE u ();\r\n").map(|c| c.1)
        );
        assert_eq!(refinery_checksum("3_add_users", "SELECT 1;"), None);
    }

    #[test]
    fn every_tool_has_one_row_and_a_name() {
        assert_eq!(TOOLS.len(), Adopt::NAMES.len());
        for (t, name) in TOOLS.iter().zip(Adopt::NAMES) {
            assert_eq!(t.name, *name);
            assert_eq!(Adopt::from_name(name), Some(t.adopt));
            assert_eq!(t.adopt.tool().name, *name);
        }
        assert_eq!(Adopt::from_name("liquibase"), None);
    }

    #[test]
    fn crc32_is_ieee() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789".iter().copied()), 0xcbf4_3926);
        assert_eq!(crc32(std::iter::empty()), 0);
    }

    #[test]
    fn flyway_checksum_ignores_line_breaks_and_bom_but_not_spaces() {
        let p = Path::new("V1__x.sql");
        let lf = flyway_checksum(p, "SELECT 1;\nSELECT 2;\n").unwrap();
        assert_eq!(flyway_checksum(p, "\u{feff}SELECT 1;\r\nSELECT 2;").unwrap(), lf);
        assert_eq!(
            lf,
            (crc32(b"SELECT 1;SELECT 2;".iter().copied()) as i32).to_string()
        );
        assert_ne!(flyway_checksum(p, "SELECT 1; \nSELECT 2;\n").unwrap(), lf);
    }

    #[test]
    fn sqlx_checksum_is_sha384_of_the_raw_text() {
        let p = Path::new("1_x.sql");
        // SHA-384("abc"), FIPS 180-2 appendix D.
        assert_eq!(
            sqlx_checksum(p, "abc").unwrap(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_ne!(
            sqlx_checksum(p, "a;\n").unwrap(),
            sqlx_checksum(p, "a;\r\n").unwrap()
        );
    }

    #[test]
    fn prisma_matches_either_line_ending_and_old_unpadded_rows() {
        let text = "CREATE TABLE a ();\r\nCREATE TABLE b ();\r\n";
        let lf = prisma_checksum(Path::new("m.sql"), &text.replace("\r\n", "\n")).unwrap();
        assert!(prisma_matches(&lf, "", text));
        // "hello" hashes to bytes with a leading zero nibble somewhere.
        use sha2::Digest;
        let digest = sha2::Sha256::digest(b"hello");
        let unpadded: String = digest.iter().map(|b| format!("{b:x}")).collect();
        assert!(unpadded.len() < 64);
        assert!(prisma_matches(&unpadded, "", "hello"));
        assert!(!prisma_matches(&lf, "", "CREATE TABLE a ();"));
    }

    #[test]
    fn versions_as_each_tool_names_files() {
        let v = |f: fn(&Path) -> Option<String>, p: &str| f(Path::new(p));
        assert_eq!(v(leading_integer, "m/0042_add.up.sql").as_deref(), Some("42"));
        assert_eq!(v(leading_integer, "m/add.sql"), None);
        assert_eq!(v(leading_digits, "m/0042_add.sql").as_deref(), Some("0042"));
        assert_eq!(
            v(diesel_version, "m/2024-01-02-030405_users/up.sql").as_deref(),
            Some("20240102030405")
        );
        assert_eq!(
            v(parent_name, "m/20240101000000_init/migration.sql").as_deref(),
            Some("20240101000000_init")
        );
        assert_eq!(v(flyway_version, "m/V1_2__x.sql").as_deref(), Some("1.2"));
        assert_eq!(v(flyway_version, "m/V1.0__x.sql").as_deref(), Some("1"));
        assert_eq!(v(flyway_version, "m/R__x.sql"), None);
        assert_eq!(normalise_version(Adopt::Flyway, "1.2.0"), "1.2");
        assert_eq!(v(refinery_version, "m/V7__x.sql").as_deref(), Some("7"));
    }

    #[test]
    fn a_later_row_replaces_an_earlier_one_and_removed_takes_it_out() {
        let row = |v: &str, s: &str| (v.to_string(), String::new(), None, s.to_string());
        let records = fold(
            [
                row("1", "applied"),
                row("2", "failed"),
                row("2", "applied"),
                row("3", "applied"),
                row("3", "removed"),
                row("", "ignored"),
            ]
            .into_iter(),
        );
        let got: Vec<(&str, State)> = records.iter().map(|r| (r.version.as_str(), r.state)).collect();
        assert_eq!(got, [("1", State::Applied), ("2", State::Applied)]);
    }
}
