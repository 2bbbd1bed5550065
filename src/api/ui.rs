//! rrdpipe's status page: its HTML, CSS and JavaScript, embedded in the binary.
//!
//! One job: map a file name of the page to its bytes and content type. The page is written
//! here (no framework, no build step, nothing fetched from elsewhere) and reads only the API:
//! `/api/v1/status` every second, `/api/v1/charts` of each host, `/api/v1/data` of the charts
//! it plots.

/// Where the page is always served; also at `/` unless netdata's dashboard is served there.
pub const PATH: &str = "/rrdpipe/";

const INDEX: &str = include_str!("ui/index.html");
const CSS: &str = include_str!("ui/ui.css");
const JS: &str = include_str!("ui/ui.js");

/// The page's file `name` (relative to the page's folder; empty for the page itself) as
/// `(content type, bytes)`, or `None` when the page has no such file.
pub fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        "" | "index.html" => Some(("text/html; charset=utf-8", INDEX.as_bytes())),
        "ui.css" => Some(("text/css; charset=utf-8", CSS.as_bytes())),
        "ui.js" => Some(("application/javascript; charset=utf-8", JS.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_each_file_it_links_are_served_with_their_types() {
        let (kind, page) = asset("").unwrap();
        assert_eq!(kind, "text/html; charset=utf-8");
        assert_eq!(asset("index.html").unwrap().1, page);
        let page = std::str::from_utf8(page).unwrap();
        for (link, kind) in
            [("ui.css", "text/css; charset=utf-8"), ("ui.js", "application/javascript; charset=utf-8")]
        {
            assert!(page.contains(&format!("\"{PATH}{link}\"")), "the page links {link} where it is served");
            assert_eq!(asset(link).unwrap().0, kind);
        }
        for missing in ["../Cargo.toml", "ui", "UI.JS", "index.htm", "/ui.js"] {
            assert_eq!(asset(missing), None, "{missing}");
        }
    }

    #[test]
    fn the_page_reads_only_this_agent_s_api() {
        let js = std::str::from_utf8(asset("ui.js").unwrap().1).unwrap();
        assert!(!js.contains("http://") && !js.contains("https://"), "no absolute URL");
        for endpoint in ["/api/v1/status", "/api/v1/charts", "/api/v1/data?"] {
            assert!(js.contains(endpoint), "{endpoint}");
        }
    }
}
