//! The setup file: the whole municipal setup as TOML, so it can be kept in
//! version control and applied to a fresh installation. See docs/setup-file.md.

use super::model::SetupDocument;
use crate::error::FieldError;

/// Parses the TOML text; a syntax or shape error names the line and column.
pub fn parse(text: &str) -> Result<SetupDocument, FieldError> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|sp| {
                let before = &text[..sp.start.min(text.len())];
                (before.matches('\n').count() + 1, before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1)
            })
            .unwrap_or((0, 0));
        FieldError { field: format!("line {line}, column {col}"), code: "invalid_setup_file".into(), reason: e.message().to_string() }
    })
}

pub fn render(doc: &SetupDocument) -> anyhow::Result<String> {
    let body = toml::to_string_pretty(doc)?;
    Ok(format!(
        "# valfri municipal setup. Apply with `valfri setup apply FILE`.\n\
         # Conditions and rates are versions: add new ones with a later valid_from,\n\
         # never edit a published one. Amounts are in öre.\n\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("[municipality]\ncountry = \"se\"\ncode = 2380\n").unwrap_err();
        assert!(err.field.starts_with("line 3"), "{err:?}");
    }
}
