//! The `kong.conf` file syntax (penlight `pl.config.read` as used by Kong's conf_loader).
//!
//! - blank lines and lines whose first non-blank character is `#` or `;` are skipped;
//! - a line ending with `\` continues on the next line;
//! - `key = value`, split at the first `=`; key characters other than `[A-Za-z0-9]` become `_`;
//! - inline comments (`#` not preceded by `\`) are removed, then `\#` becomes `#`;
//! - values are trimmed; quotes are kept.
//!
//! Unlike Kong, lines that are not `key = value` (including `[section]` headers) are errors.

/// One `key = value` line of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawLine {
    /// 1-based number of the (first physical) line.
    pub line: usize,
    /// The key as written (trimmed).
    pub written_key: String,
    /// The normalised key (non-alphanumeric characters replaced by `_`).
    pub key: String,
    /// The value, comments removed and trimmed (may be empty).
    pub value: String,
}

/// A syntax problem: line number and message.
pub(crate) type SyntaxError = (usize, String);

/// Splits a configuration file into `key = value` lines, collecting syntax errors.
pub(crate) fn parse_text(text: &str) -> (Vec<RawLine>, Vec<SyntaxError>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut pending: Option<(usize, String)> = None;

    for (idx, physical) in text.lines().enumerate() {
        let number = idx + 1;
        let (start, mut logical) = match pending.take() {
            Some((start, acc)) => (start, acc + physical.trim_start()),
            None => {
                let trimmed = physical.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                    continue;
                }
                (number, physical.to_string())
            }
        };
        let without_ws = logical.trim_end();
        if let Some(stripped) = without_ws.strip_suffix('\\') {
            logical = stripped.to_string();
            pending = Some((start, logical));
            continue;
        }
        match parse_line(&logical) {
            Ok((written_key, key, value)) => lines.push(RawLine { line: start, written_key, key, value }),
            Err(message) => errors.push((start, message)),
        }
    }
    if let Some((start, logical)) = pending {
        match parse_line(&logical) {
            Ok((written_key, key, value)) => lines.push(RawLine { line: start, written_key, key, value }),
            Err(message) => errors.push((start, message)),
        }
    }
    (lines, errors)
}

fn parse_line(line: &str) -> Result<(String, String, String), String> {
    let trimmed = line.trim();
    let Some((key, value)) = trimmed.split_once('=') else {
        return Err(format!("expected 'key = value', got '{}'", strip_inline_comment(trimmed)));
    };
    let written_key = key.trim().to_string();
    if written_key.is_empty() {
        return Err(format!("missing property name in '{trimmed}'"));
    }
    let normalized: String = written_key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    Ok((written_key, normalized, strip_inline_comment(value)))
}

/// Removes an inline comment (`#` not preceded by `\`), turns `\#` into `#`, and trims.
pub(crate) fn strip_inline_comment(value: &str) -> String {
    let mut cut = value.len();
    let mut previous = None;
    for (i, c) in value.char_indices() {
        if c == '#' && previous != Some('\\') {
            cut = i;
            break;
        }
        previous = Some(c);
    }
    value[..cut].replace("\\#", "#").trim().to_string()
}
