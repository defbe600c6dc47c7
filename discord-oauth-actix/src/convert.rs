//! Every conversion between the core's `http` 1.x types and actix-web 4's own (which still
//! build on `http` 0.2) lives here, and only here.
//!
//! Three crossings exist: the core's answers (`http::Response<String>`) become
//! [`HttpResponse`]s; request data the core reads (method, path, headers) is mostly passed as
//! `&str`/`&[u8]`, which needs no conversion; and where a hook of the core wants the request
//! head (the proxy check's instance hook), [`request_parts`] rebuilds it in `http` 1.x.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

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

/// The request head in `http` 1.x: method, URI (path and query), version and every header
/// (in order, repeated names kept). Values `http` 1.x cannot represent are left out.
pub(crate) fn request_parts(req: &HttpRequest) -> http::request::Parts {
    let version = match req.version() {
        actix_web::http::Version::HTTP_09 => http::Version::HTTP_09,
        actix_web::http::Version::HTTP_10 => http::Version::HTTP_10,
        actix_web::http::Version::HTTP_2 => http::Version::HTTP_2,
        actix_web::http::Version::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    };
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(http::Method::GET))
        .uri(req.uri().to_string().parse::<http::Uri>().unwrap_or_default())
        .version(version);
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in req.headers() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_str().as_bytes()),
                http::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.append(name, value);
            }
        }
    }
    // Method, URI and headers were converted above: building cannot fail.
    builder
        .body(())
        .map_or_else(|_| http::Request::new(()).into_parts().0, |r| r.into_parts().0)
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
    fn request_head_crosses_over() {
        let req = actix_web::test::TestRequest::post()
            .uri("/api/x?token=a%20b")
            .insert_header(("x-signature-ed25519", "ab"))
            .append_header(("accept", "a"))
            .append_header(("accept", "b"))
            .to_http_request();
        let parts = request_parts(&req);
        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.uri, "/api/x?token=a%20b");
        assert_eq!(parts.headers["x-signature-ed25519"], "ab");
        let accept: Vec<_> = parts.headers.get_all("accept").iter().collect();
        assert_eq!(accept, ["a", "b"]);
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
