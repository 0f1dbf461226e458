//! The program's subcommands that need more than a few lines.

pub mod keys;
pub mod records;
pub mod serve;
pub mod strategy;

/// Appends a line to the output buffer (written at the end, quietly if the
/// reader has gone away).
pub fn line(out: &mut Vec<u8>, text: String) {
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}
