//! Evidence files: what is accepted is decided by the bytes, not by the name
//! or the type the browser claims, so a renamed executable is refused.

/// At most this many bytes per file.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// At most this many files per application, so one application cannot fill the database.
pub const MAX_FILES_PER_CONTRACT: i64 = 60;

/// The media type of a PDF, PNG or JPEG file, from its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A file name safe to store and to send back in Content-Disposition: no
/// directories, no control characters, at most 120 characters.
pub fn clean_filename(name: &str, content_type: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String =
        base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | '*' | '?' | ':')).take(120).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        let ext = match content_type {
            "application/pdf" => "pdf",
            "image/png" => "png",
            _ => "jpg",
        };
        format!("bilaga.{ext}")
    } else {
        cleaned
    }
}

/// `Content-Disposition` for a download; the UTF-8 name per RFC 6266/5987.
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    format!("attachment; filename=\"{}\"; filename*=UTF-8''{}", ascii.replace('"', "_"), urlencoding::encode(filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_told_by_their_bytes() {
        assert_eq!(sniff(b"%PDF-1.4\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some("image/jpeg"));
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b"<html>%PDF-"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(clean_filename("C:\\Users\\x\\försäkring.pdf", "application/pdf"), "försäkring.pdf");
        assert_eq!(clean_filename("../../etc/passwd", "application/pdf"), "passwd");
        assert_eq!(clean_filename("a\u{0}b\nc.png", "image/png"), "abc.png");
        assert_eq!(clean_filename("", "image/jpeg"), "bilaga.jpg");
        assert_eq!(clean_filename(".hidden", "application/pdf"), "hidden");
    }

    #[test]
    fn disposition_carries_the_utf8_name() {
        let d = content_disposition("intyg å.pdf");
        assert!(d.starts_with("attachment; filename=\"intyg _.pdf\""), "{d}");
        assert!(d.contains("filename*=UTF-8''intyg%20%C3%A5.pdf"), "{d}");
    }
}
