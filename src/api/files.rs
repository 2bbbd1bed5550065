//! Static files from `[directories] web` (netdata's dashboard, as Debian installs it in
//! `/usr/share/netdata/web`), served as netdata serves them.
//!
//! One job: map a request path to a regular file inside the web directory, and nothing else:
//! `..` and anything that resolves outside the directory (symbolic links included) is refused,
//! a directory is answered by its `index.html` (never a listing), and the content type comes
//! from the file's extension.

use std::path::{Component, Path, PathBuf};

use super::Response;

/// The largest file served (netdata's biggest web file is a few MB).
const MAX_FILE: u64 = 64 << 20;

/// The content type of a file named `name`, as netdata sends it.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "json" | "map" => "application/json; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "xml" => "text/xml; charset=utf-8",
        "yaml" | "yml" => "application/yaml; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/vnd.microsoft.icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The relative path a URL path names under the web directory, or `None` when it tries to
/// leave it (`..`, a root or prefix component, a NUL byte). `""` and `"/"` name the root.
pub fn relative_path(url_path: &str) -> Option<PathBuf> {
    if url_path.contains('\0') || url_path.contains('\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for c in Path::new(url_path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Answer a request for `url_path` (already percent-decoded) from `root`.
pub fn serve(root: &Path, url_path: &str) -> Response {
    let Some(rel) = relative_path(url_path) else {
        return Response::bad_request("the path leaves the web directory");
    };
    let not_found = || Response::not_found(&format!("no file {url_path}"));
    let Ok(root) = root.canonicalize() else {
        return not_found();
    };
    let mut path = root.join(&rel);
    if path.is_dir() {
        path.push("index.html");
    }
    // Resolve links, then make sure the file is still inside the directory.
    let Ok(real) = path.canonicalize() else {
        return not_found();
    };
    if !real.starts_with(&root) {
        return not_found();
    }
    match std::fs::metadata(&real) {
        Ok(m) if m.is_file() && m.len() <= MAX_FILE => {}
        _ => return not_found(),
    }
    match std::fs::read(&real) {
        Ok(bytes) => {
            let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("");
            Response::ok(content_type(name), bytes)
        }
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_directory_are_refused() {
        assert_eq!(relative_path("/"), Some(PathBuf::new()));
        assert_eq!(relative_path("/old/index.html"), Some(PathBuf::from("old/index.html")));
        assert_eq!(relative_path("/./a//b"), Some(PathBuf::from("a/b")));
        for bad in ["/../etc/passwd", "/a/../../b", "/a/..", "/a\0b", "/a\\..\\b"] {
            assert_eq!(relative_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn files_directories_links_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let web = dir.path();
        std::fs::write(web.join("index.html"), "<html>root</html>").unwrap();
        std::fs::create_dir(web.join("old")).unwrap();
        std::fs::write(web.join("old/index.html"), "<html>old</html>").unwrap();
        std::fs::write(web.join("dashboard.js"), "var x;").unwrap();
        std::fs::create_dir(web.join("empty")).unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), web.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), web.join("outdir")).unwrap();
        std::os::unix::fs::symlink(web.join("dashboard.js"), web.join("inner.js")).unwrap();

        let ok = |p: &str| {
            let r = serve(web, p);
            assert_eq!(r.status, 200, "{p}: {}", String::from_utf8_lossy(&r.body));
            (r.content_type, String::from_utf8(r.body).unwrap())
        };
        assert_eq!(ok("/"), ("text/html; charset=utf-8", "<html>root</html>".into()));
        assert_eq!(ok("/old/"), ("text/html; charset=utf-8", "<html>old</html>".into()));
        assert_eq!(ok("/old").1, "<html>old</html>");
        assert_eq!(ok("/dashboard.js"), ("application/javascript; charset=utf-8", "var x;".into()));
        assert_eq!(ok("/inner.js").1, "var x;", "a link inside the directory is followed");
        for missing in ["/nope", "/empty", "/empty/", "/link", "/outdir/secret"] {
            assert_eq!(serve(web, missing).status, 404, "{missing}");
        }
        assert_eq!(serve(web, "/../secret").status, 400);
        assert_eq!(content_type("a.WOFF2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
