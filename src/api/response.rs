//! What an API endpoint answers: status, content type, body; and the error answers.
//!
//! One job: the shape of an answer, before HTTP. The server adds the headers every answer
//! carries (CORS, caching, length, compression).

/// `text/plain; version=0.0.4`: Prometheus' text exposition format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4";
/// `application/json`.
pub const JSON: &str = "application/json";
/// `text/plain; charset=utf-8`.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// An endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// A `Content-Disposition` file name (`/api/v1/data?filename=`), if any.
    pub filename: Option<String>,
}

impl Response {
    /// 200 with `body` of type `content_type`.
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status: 200, content_type, body, filename: None }
    }

    /// 400: a one-line reason naming what to fix.
    pub fn bad_request(why: &str) -> Response {
        Response::text(400, why)
    }

    /// 404: a one-line reason.
    pub fn not_found(why: &str) -> Response {
        Response::text(404, why)
    }

    /// `status` with a one-line plain-text reason.
    pub fn text(status: u16, why: &str) -> Response {
        let mut body = why.as_bytes().to_vec();
        body.push(b'\n');
        Response { status, content_type: TEXT, body, filename: None }
    }
}
