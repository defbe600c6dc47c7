//! Every conversion between the core's `http` 1.x types and actix-web 4's own (which still
//! build on `http` 0.2) lives here, and only here.
//!
//! Only two crossings exist: the core's answers (`http::Response<String>`) become
//! [`HttpResponse`]s, and request data the core reads (method, path, headers) is passed as
//! `&str`/`&[u8]`, which needs no conversion.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};

/// Converts a status code.
pub(crate) fn status(status: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Converts one of the core's answers into an actix response: status, every header (in
/// order, repeated names kept) and the body.
pub(crate) fn response(answer: http::Response<String>) -> HttpResponse {
    let (parts, body) = answer.into_parts();
    let mut out = HttpResponse::with_body(status(parts.status), body);
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    out.map_into_boxed_body()
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;
    use discord_oauth_core::login::answer;

    use super::*;

    fn header<'a>(r: &'a HttpResponse, name: &str) -> Vec<&'a str> {
        r.headers().get_all(name).map(|v| v.to_str().unwrap()).collect()
    }

    #[test]
    fn status_headers_and_body_cross_over_unchanged() {
        let r = response(answer::redirect("/me?x=1"));
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(&r, "location"), ["/me?x=1"]);
        assert_eq!(header(&r, "cache-control"), ["no-store"]);
        assert_eq!(header(&r, "referrer-policy"), ["no-referrer"]);

        let r = response(answer::method_not_allowed("POST"));
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&r, "allow"), ["POST"]);
        let body = r.into_body().try_into_bytes().unwrap();
        assert_eq!(&body[..], b"Method Not Allowed: use POST");

        let r = response(answer::unavailable("busy", 30));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&r, "retry-after"), ["30"]);
    }

    #[test]
    fn repeated_headers_are_kept_and_every_status_maps() {
        let mut a = http::Response::new(String::new());
        a.headers_mut().append("set-cookie", "a=1".parse().unwrap());
        a.headers_mut().append("set-cookie", "b=2".parse().unwrap());
        let r = response(a);
        assert_eq!(header(&r, "set-cookie"), ["a=1", "b=2"]);
        for code in [200, 303, 400, 401, 403, 404, 405, 429, 500, 502, 503] {
            let s = http::StatusCode::from_u16(code).unwrap();
            assert_eq!(status(s).as_u16(), code);
        }
    }
}
