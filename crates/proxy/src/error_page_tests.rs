use super::*;

fn pick(accept: &str) -> ErrorType {
    response_type(Some(accept.as_bytes()))
}

#[test]
fn accept_chooses_the_template_as_kong_does() {
    assert_eq!(response_type(None), ErrorType::Json);
    assert_eq!(pick("text/html"), ErrorType::Html);
    assert_eq!(pick("application/xml"), ErrorType::Xml);
    assert_eq!(pick("text/plain"), ErrorType::Plain);
    assert_eq!(pick("text/*"), ErrorType::Plain);
    assert_eq!(pick("*/*"), ErrorType::Json);
    assert_eq!(pick("image/png"), ErrorType::Json, "unknown types fall back to JSON");
    assert_eq!(pick("application/grpc"), ErrorType::Grpc);
    // Highest quality wins; the first on ties; q=0 never.
    assert_eq!(pick("text/html;q=0.5, application/xml;q=0.9"), ErrorType::Xml);
    assert_eq!(pick("text/html, application/xml"), ErrorType::Html);
    assert_eq!(pick("text/html;q=0"), ErrorType::Json);
    assert_eq!(pick("text/html; charset=utf-8; q=0.2, text/plain;level=1;q=0.3"), ErrorType::Plain);
    // The lookup is case-sensitive although the pattern is not: `TEXT/HTML` is an unknown type.
    assert_eq!(pick("TEXT/HTML"), ErrorType::Json);
    // A parameter that does not fit stops the parameter list, so a later q is not seen.
    assert_eq!(pick("text/plain;x=1;q=0.1, text/html;q=0.5"), ErrorType::Plain);
    // Types need two characters.
    assert_eq!(pick("a/b, text/html;q=0.1"), ErrorType::Html);
}

#[test]
fn templates_are_kongs() {
    assert_eq!(ErrorType::Json.render("m", "r"), "{\n  \"message\":\"m\",\n  \"request_id\":\"r\"\n}");
    assert_eq!(ErrorType::Plain.render("m", "r"), "m\nrequest_id: r\n");
    assert!(ErrorType::Html.render("m", "r").contains("<p>m.</p>\n    <p>request_id: r</p>"));
    assert!(ErrorType::Xml.render("m", "r").contains("<message>m</message>\n  <requestid>r</requestid>"));
}

#[test]
fn grpc_codes_follow_the_status() {
    assert_eq!(grpc_status(401), 16);
    assert_eq!(grpc_status(418), 3);
    assert_eq!(grpc_status(502), 13);
    assert_eq!(grpc_message(grpc_status(401)), "Unauthenticated");
}

#[test]
fn grpc_exits_keep_a_body_the_plugin_typed_as_grpc() {
    let (parts, ()) = http::Request::post("/").version(hyper::Version::HTTP_2).body(()).unwrap().into_parts();
    let options = crate::ProxyOptions::default();
    let request = ErrorRequest::of(&parts, &options);
    let typed = vec![(CONTENT_TYPE, HeaderValue::from_static("application/grpc"))];
    let response = exit(200, ExitBody::Raw("\0\0\0\0\0".into()), typed, &request);
    assert_eq!(response.headers()["grpc-status"], "0");
    assert!(!response.headers().contains_key(CONTENT_LENGTH), "the body's own length is sent");
    let mut parts = parts;
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
    let request = ErrorRequest::of(&parts, &options);
    let response = exit(403, ExitBody::Raw("go away".into()), Vec::new(), &request);
    assert_eq!(response.headers()["grpc-status"], "7");
    assert_eq!(response.headers()["grpc-message"], "go away");
    assert_eq!(response.headers()[CONTENT_LENGTH], "0");
}

#[test]
fn custom_templates_are_filled_as_string_format_does() {
    assert_eq!(fill("<%s|%s> 100%% %d", "m", "r"), "<m|r> 100% %d");
    assert_eq!(fill("%s %s %s", "m", "r"), "m r ");
    let templates = ErrorTemplates { plain: Some("oops: %s (%s)".into()), ..ErrorTemplates::default() };
    assert_eq!(ErrorType::Plain.body("m", "r", &templates), "oops: m (r)");
    assert_eq!(ErrorType::Json.body("m", "r", &templates), ErrorType::Json.render("m", "r"));
}
