//! Diagnostics: the `file:line:column: field.path: message` errors and warnings of a load.

use std::fmt;

use crate::model::Loc;

/// One problem found in a config document, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or origin) the document came from.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The field path, e.g. `static_resources.clusters[2].lb_policy`; empty for the document.
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.path, self.message
            )
        }
    }
}

/// Every error found in a config document, sorted by position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects the errors and warnings of one load.
#[derive(Debug)]
pub(crate) struct Sink {
    file: String,
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn new(file: &str) -> Self {
        Sink {
            file: file.to_owned(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn make(&self, loc: Loc, path: &str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: loc.line,
            column: loc.column,
            path: path.to_owned(),
            message,
        }
    }

    pub(crate) fn error(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        let d = self.make(loc, path, message.into());
        self.errors.push(d);
    }

    pub(crate) fn warn(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        let d = self.make(loc, path, message.into());
        self.warnings.push(d);
    }

    /// Sorts both lists by position (stable, so equal positions keep the order found) and drops
    /// exact repeats.
    pub(crate) fn finish(mut self) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
        for list in [&mut self.errors, &mut self.warnings] {
            list.sort_by_key(|d| (d.line, d.column));
            list.dedup();
        }
        (self.errors, self.warnings)
    }
}
