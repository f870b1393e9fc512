//! The lookup page for support staff at `/` of the API listener: one HTML page, its stylesheet
//! and its script, compiled into the binary (README "Looking up a message"). It holds no data and
//! needs no token to load; its script asks `GET /v1/messages/{id}` with the token the person types.
//!
//! Every part is served under one strict Content-Security-Policy: only this origin's own script
//! and stylesheet, fetches only to this origin, no inline code, no frames. The data shown holds
//! user content (sender, message fields), which the script inserts as text only.

use actix_web::HttpResponse;
use actix_web::http::header;

const PAGE: &str = include_str!("page/lookup.html");
const SCRIPT: &str = include_str!("page/lookup.js");
const STYLE: &str = include_str!("page/lookup.css");

/// Where people open the page: the listener's root.
pub const PAGE_PATH: &str = "/";
/// The script, a file of its own so that the policy needs no `'unsafe-inline'` or hash.
pub const SCRIPT_PATH: &str = "/lookup.js";
/// The stylesheet, apart for the same reason.
pub const STYLE_PATH: &str = "/lookup.css";

/// No inline script or style at all (no `'unsafe-inline'`, no hashes to keep in step), nothing
/// from another origin, no `<base>` or form target to redirect the token elsewhere, and no framing
/// (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page.
pub async fn page() -> HttpResponse {
    served("text/html; charset=utf-8", PAGE)
}

/// `GET /lookup.js`: the page's script.
pub async fn script() -> HttpResponse {
    served("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /lookup.css`: the page's stylesheet.
pub async fn style() -> HttpResponse {
    served("text/css; charset=utf-8", STYLE)
}

fn served(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        // The browser runs the script only as the type given, never a guess.
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Message ids are personal data too: never sent on to another site.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // The page is small, and an old copy must not outlive an upgrade of the API it reads.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_code_and_loads_only_its_own_files() {
        assert!(!PAGE.contains("<script>") && !PAGE.contains("<style"), "inline code would be refused by the CSP");
        assert!(!PAGE.contains(" style="), "inline styles neither");
        let handler =
            |rest: &str| rest.split_once('=').is_some_and(|(name, _)| name.bytes().all(|b| b.is_ascii_lowercase()));
        assert!(!PAGE.split(" on").skip(1).any(handler), "nor inline event handlers");
        assert!(PAGE.contains(&format!(r#"<script src="{SCRIPT_PATH}" defer></script>"#)));
        assert!(PAGE.contains(&format!(r#"<link rel="stylesheet" href="{STYLE_PATH}">"#)));
        for text in [PAGE, SCRIPT, STYLE] {
            assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "external");
        }
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("insertAdjacentHTML"), "text only");
        assert!(!SCRIPT.contains("localStorage") && !SCRIPT.contains("sessionStorage"), "the token stays in memory");
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
