//! A disk layer: every regular file under a directory is one key, named by its path relative to
//! that directory with `/` written as `.`, valued by its contents (Envoy's `DiskLayer`).
//!
//! As Envoy: symbolic links inside the tree are followed, nothing is skipped for its name (a
//! `.hidden` file is key `.hidden`), lines starting with `#` are comments, and the last line is
//! trimmed of trailing whitespace. Limits of our own, so that one bad tree cannot stall the
//! control thread: 16 levels (Envoy's), 1 MiB per file and 65 536 keys per layer.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::value::Entry;

/// Deepest directory level read (Envoy's `MaxWalkDepth`).
const DEPTH_MAX: u32 = 16;
/// Largest file read as a value.
const FILE_BYTES_MAX: u64 = 1 << 20;
/// Most keys one disk layer may hold.
const KEYS_MAX: usize = 1 << 16;

/// Why a disk layer could not be read; the layer is then left out of the runtime, as Envoy does.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Deeper than [`DEPTH_MAX`] levels.
    #[error("{0}: walk recursion depth exceeded {DEPTH_MAX}")]
    TooDeep(PathBuf),
    /// Under /dev, /proc or /sys.
    #[error("{0}: invalid path (under /dev, /proc or /sys)")]
    IllegalPath(PathBuf),
    /// A file larger than [`FILE_BYTES_MAX`].
    #[error("{0}: larger than {FILE_BYTES_MAX} bytes")]
    TooLarge(PathBuf),
    /// More than [`KEYS_MAX`] files.
    #[error("{0}: more than {KEYS_MAX} keys")]
    TooManyKeys(PathBuf),
    /// A read failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Reads the tree under `root` into keys and values.
pub fn read(root: &Path) -> Result<BTreeMap<String, Entry>, DiskError> {
    let mut values = BTreeMap::new();
    walk(root, "", 1, &mut values)?;
    Ok(values)
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: u32,
    values: &mut BTreeMap<String, Entry>,
) -> Result<(), DiskError> {
    if depth > DEPTH_MAX {
        return Err(DiskError::TooDeep(dir.to_owned()));
    }
    if is_illegal(dir) {
        return Err(DiskError::IllegalPath(dir.to_owned()));
    }
    let io = |e| DiskError::Io(dir.to_owned(), e);
    for item in fs::read_dir(dir).map_err(io)? {
        let item = item.map_err(io)?;
        let name = item.file_name().to_string_lossy().into_owned();
        let path = item.path();
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        // Follows links, as Envoy's `stat`; a dangling link reads as a file that cannot be read.
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => return Err(DiskError::Io(path, e)),
        };
        if meta.is_dir() {
            walk(&path, &key, depth + 1, values)?;
        } else if meta.is_file() {
            if meta.len() > FILE_BYTES_MAX {
                return Err(DiskError::TooLarge(path));
            }
            let text = read_file(&path)?;
            if values.len() >= KEYS_MAX && !values.contains_key(&key) {
                return Err(DiskError::TooManyKeys(dir.to_owned()));
            }
            values.insert(key, Entry::parse(&file_value(&text)));
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<String, DiskError> {
    let io = |e| DiskError::Io(path.to_owned(), e);
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(io)?
        .take(FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > FILE_BYTES_MAX {
        return Err(DiskError::TooLarge(path.to_owned()));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A file's contents as Envoy turns them into a value: split into non-empty lines, lines starting
/// with `#` dropped, every kept line followed by `\n` except one equal to the last line, which is
/// right-trimmed instead. (Envoy compares line text, not position, so a line repeating the last
/// one is trimmed too.)
pub fn file_value(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
    let last = lines.last().copied();
    let mut value = String::with_capacity(text.len());
    for line in &lines {
        if line.starts_with('#') {
            continue;
        }
        if Some(*line) == last {
            value.push_str(line.trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']));
        } else {
            value.push_str(line);
            value.push('\n');
        }
    }
    value
}

/// Envoy's `illegalPath`: nothing under the kernel's pseudo file systems is read.
fn is_illegal(dir: &Path) -> bool {
    let Ok(canonical) = fs::canonicalize(dir) else {
        return false;
    };
    ["/dev", "/proc", "/sys"]
        .iter()
        .any(|p| canonical.starts_with(p))
}
