//! Files served under `/static/` from an optional directory (never rate limited).

use std::path::{Path, PathBuf};

use bytes::Bytes;

/// A static file answer: status, content type and body.
pub(crate) struct StaticReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl StaticReply {
    fn not_found() -> Self {
        StaticReply {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from_static(b"not found\n"),
        }
    }
}

/// The content type for a file name, by extension.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "js" | "mjs" | "cjs" => "text/javascript",
        "wasm" => "application/wasm",
        "html" | "htm" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "css" => "text/css; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Maps the part of the URL path after `/static/` to a file inside `root`, refusing anything
/// that could leave it (`..`, backslashes, NUL, drive prefixes).
pub(crate) fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rel)?;
    let mut path = root.to_path_buf();
    for part in decoded.split('/') {
        if part.is_empty() || part == "." {
            continue;
        }
        if part == ".." || part.contains(['\\', '\0', ':']) {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

/// Reads the file for `rel` (the path after `/static/`) from `root`; a directory serves its
/// `index.html`.
pub(crate) async fn serve(root: Option<&Path>, rel: &str) -> StaticReply {
    let Some(mut path) = root.and_then(|r| resolve(r, rel)) else {
        return StaticReply::not_found();
    };
    if tokio::fs::metadata(&path)
        .await
        .map(|m| m.is_dir())
        .unwrap_or(false)
    {
        path.push("index.html");
    }
    match tokio::fs::read(&path).await {
        Ok(data) => StaticReply {
            status: 200,
            content_type: content_type(&path),
            body: Bytes::from(data),
        },
        Err(_) => StaticReply::not_found(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        let root = Path::new("/srv");
        assert_eq!(resolve(root, "a/b.js"), Some(PathBuf::from("/srv/a/b.js")));
        assert_eq!(
            resolve(root, "a%20b.js"),
            Some(PathBuf::from("/srv/a b.js"))
        );
        assert_eq!(resolve(root, "../etc/passwd"), None);
        assert_eq!(resolve(root, "%2e%2e/x"), None);
        assert_eq!(resolve(root, "a\\..\\b"), None);
        assert_eq!(resolve(root, "%zz"), None);
        assert_eq!(resolve(root, "%"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("x.mjs")), "text/javascript");
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("x.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.json")), "application/json");
        assert_eq!(content_type(Path::new("x.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }
}
