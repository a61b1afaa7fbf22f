//! "Never a 500 for user input", for every JSON endpoint at once: bodies
//! generated from the OpenAPI document's own schemas (valid shapes with odd
//! values: empty, long, negative, huge, impossible dates, wrong enum values,
//! missing optional fields, nulls), sent to every operation that takes a
//! JSON body, by the admin and (every third) by a provider, with path ids
//! of records that exist (and now and then of one that does not). Whatever
//! the answer, it is not a server error, and an error has a problem body
//! (`TestApp::call` checks that).

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

/// A small deterministic generator: the same bodies every run, so a failure
/// can be replayed from its case number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const STRINGS: &[&str] = &[
    "",
    " ",
    "a",
    "Åsa Öberg",
    "2026-03-01",
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "2026-03",
    "2026-13",
    "2026-03-01T08:00:00Z",
    "2026-03-29 02:30",
    "-1",
    "0",
    "99999999999999999999",
    "19121212-1212",
    "556677-8899",
    "831 30",
    "personal_care",
    "day",
    "private",
    "municipal",
    "draft",
    "approved",
    "'; DROP TABLE clients; --",
    "<script>alert(1)</script>",
    "\u{202e}rtl",
    "a\u{0}b",
];

const INTEGERS: &[i64] = &[0, 1, -1, 2, 100, 600, 10_000, 1 << 31, 1 << 53, i64::MAX, i64::MIN];

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// A sensible value for a field of this name, when one can be guessed: most
/// fields get one, so a body gets past the first check to the rules behind.
fn plausible(name: &str, kind: &str, rng: &mut Rng, ids: &[String]) -> Option<Value> {
    let n = name;
    Some(match kind {
        "string" if n == "month" => json!(rng.pick(&["2026-02", "2026-03"])),
        "string"
            if n.ends_with("date")
                || n.ends_with("from")
                || n.ends_with("_to")
                || n == "start"
                || n == "end"
                || n == "from"
                || n == "to" =>
        {
            json!(rng.pick(&["2026-02-01", "2026-02-15", "2026-03-01", "2026-04-30"]))
        }
        "string" if n.contains("start") || n.contains("end") || n.ends_with("_at") => json!("2026-02-03 08:00"),
        "string" if n == "postcode" => json!("831 30"),
        "string" if n == "person_id" || n == "client" => json!(rng.pick(&[PNR_A, PNR_B])),
        "string" if n == "org_nr" => json!(rng.pick(&[ORG_A, ORG_B, "556036-0793"])),
        "string" if n == "service_type" || n == "code" => json!(rng.pick(&["personal_care", "service", "meals"])),
        "string" if n.contains("area") => json!("centrum"),
        "string" if (n == "id" || n.ends_with("_id")) && !ids.is_empty() => json!(rng.pick(ids)),
        "string" if n == "username" => json!(format!("user{}", rng.below(1000))),
        "string" if n == "password" => json!("correct horse battery staple"),
        "string" => json!(rng.pick(&["Test", "Omsorg Öst AB", "Storgatan 1", "ok"])),
        "integer" if n.ends_with("_ore") => json!(rng.pick(&[100_i64, 52_300, -5_000])),
        "integer" if n.ends_with("permille") => json!(rng.pick(&[0_i64, 100, 1000])),
        "integer" if n.ends_with("_count") || n == "revision" || n == "quantity" => json!(rng.pick(&[1_i64, 2])),
        "integer" => json!(rng.pick(&[1_i64, 60, 600])),
        "boolean" => json!(rng.below(2) == 0),
        _ => return None,
    })
}

/// A value of `schema` for a field named `name` (`""` for a whole body):
/// of the right shape, so the request gets past parsing; sensible where
/// the name says what it holds, odd now and then (empty, long, negative,
/// huge, impossible).
fn named_value(name: &str, doc: &Value, schema: &Value, rng: &mut Rng, ids: &[String], depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        return named_value(name, doc, rng.pick(options), rng, ids, depth);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for p in parts {
            if let Value::Object(o) = named_value("", doc, p, rng, ids, depth) {
                merged.extend(o);
            }
        }
        return Value::Object(merged);
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return if rng.below(8) == 0 { json!("no_such_value") } else { rng.pick(values).clone() };
    }
    let ts = types(schema);
    if ts.contains(&"null") && rng.below(4) == 0 {
        return Value::Null;
    }
    let kind = ts.iter().copied().find(|t| *t != "null").unwrap_or("object");
    if rng.below(8) != 0 {
        if let Some(v) = plausible(name, kind, rng, ids) {
            return v;
        }
    }
    match kind {
        "string" => match rng.below(10) {
            0 => json!("x".repeat(10_000)),
            1 | 2 if !ids.is_empty() => json!(rng.pick(ids)),
            _ => json!(rng.pick(STRINGS)),
        },
        "integer" => json!(rng.pick(INTEGERS)),
        "number" => json!(*rng.pick(&[0.0, -1.5, 1e300])),
        "boolean" => json!(rng.below(2) == 0),
        "array" if depth < 4 => {
            let n = rng.below(4);
            Value::Array((0..n).map(|_| named_value(name, doc, &schema["items"], rng, ids, depth + 1)).collect())
        }
        "array" => json!([]),
        _ => {
            let mut out = Map::new();
            let required: Vec<&str> =
                schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            if let Some(props) = schema["properties"].as_object() {
                for (name, prop) in props {
                    if depth < 4 && (required.contains(&name.as_str()) || rng.below(3) != 0) {
                        out.insert(name.clone(), named_value(name, doc, prop, rng, ids, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
    }
}

/// The document's operations: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, Method, Value)> {
    let paths = doc["paths"].as_object().into_iter().flatten();
    paths
        .flat_map(|(path, ops)| {
            ops.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, op)| (path.clone(), Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), op.clone()))
        })
        .collect()
}

/// The id of a stored record for a path segment (`/clients/{id}` → a
/// client's id), or a made-up one.
async fn path_value(app: &TestApp, resource: &str, rng: &mut Rng) -> String {
    let sql = match resource {
        "area-closures" => "SELECT id FROM area_closures",
        "assignments" => "SELECT id FROM assignments",
        "choice-systems" => "SELECT id FROM choice_systems",
        "clients" => "SELECT id FROM clients",
        "contracts" => "SELECT id FROM contracts",
        "answers" => "SELECT requirement_code FROM contract_answers",
        "decisions" => "SELECT id FROM decisions",
        "providers" => "SELECT id FROM providers",
        "settlements" => "SELECT id FROM settlements",
        "areas" => "SELECT code FROM areas",
        "service-types" => "SELECT code FROM service_types",
        "zones" => "SELECT code FROM zones",
        "tasks" => "SELECT id FROM choice_tasks",
        _ => "",
    };
    if sql.is_empty() || rng.below(5) == 0 {
        return "no-such-record".into();
    }
    let found: Option<String> =
        sqlx::query_scalar(&format!("{sql} ORDER BY 1 LIMIT 1")).fetch_optional(&app.state.db.pool).await.ok().flatten();
    found.unwrap_or_else(|| "no-such-record".into())
}

/// What the generated requests run against: a municipality with providers,
/// a contract application, a client with a decision and an assignment, and
/// a settled month. With the ids the generator may put in a field, and the
/// generator (`VALFRI_TEST_SEED` picks another sequence).
struct Fuzz {
    w: crate::contracts::World,
    ids: Vec<String>,
    doc: Value,
    rng: Rng,
}

async fn fuzz(default_seed: u64) -> Fuzz {
    let w = crate::contracts::world().await;
    let app = &w.app;
    crate::contracts::apply(app, &w.a_token, &["personal_care"], &["centrum"]).await;
    let client = app.create_client(&w.admin, PNR_A, "831 30").await;
    let admin_id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = 'admin'").fetch_one(&app.state.db.pool).await.unwrap();
    app.insert_decision(&admin_id, &client, "personal_care", ("2026-01-01", None), 600, false).await;
    app.insert_assignment(&client, &w.a, "personal_care", "2026-01-01", None).await;
    let (s, b) = app.call(Method::POST, "/api/v1/settlements/compute", Some(&w.admin), Some(json!({"month": "2026-02"}))).await;
    assert!(s.is_success(), "{b}");
    let ids = vec![client, w.a.clone(), w.b.clone(), admin_id];
    let seed = std::env::var("VALFRI_TEST_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(default_seed);
    Fuzz { w, ids, doc: serde_json::to_value(valfri::api::openapi()).unwrap(), rng: Rng(seed.max(1)) }
}

impl Fuzz {
    /// `path` with each `{param}` replaced by the id of a stored record of
    /// the resource named before it (or a made-up one).
    async fn path(&mut self, path: &str) -> String {
        let mut concrete = String::new();
        let mut previous = "";
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            concrete.push('/');
            if segment.starts_with('{') {
                concrete.push_str(&urlencoding::encode(&path_value(&self.w.app, previous, &mut self.rng).await));
            } else {
                concrete.push_str(segment);
            }
            previous = segment;
        }
        concrete
    }

    fn operations(&self) -> Vec<(String, Method, Value)> {
        operations(&self.doc)
    }

    /// A query string (`?a=1&b=x`, or empty) for the operation's query
    /// parameters: the required ones always, the others two times in three.
    fn query(&mut self, op: &Value) -> String {
        let mut query = Vec::new();
        for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            if p["required"] != true && self.rng.below(3) == 0 {
                continue;
            }
            let text = match named_value(name, &self.doc, &p["schema"], &mut self.rng, &self.ids, 0) {
                Value::String(s) => s,
                Value::Null => continue,
                other => other.to_string(),
            };
            query.push(format!("{name}={}", urlencoding::encode(&text)));
        }
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    }

    /// Every third request by provider A: its own access checks and
    /// narrower queries are other code.
    fn who(&self, case: usize) -> (&'static str, String) {
        if case % 3 == 2 {
            ("provider A", self.w.a_token.clone())
        } else {
            ("admin", self.w.admin.clone())
        }
    }
}

#[tokio::test]
async fn no_generated_json_body_gets_a_server_error_from_any_endpoint() {
    let mut f = fuzz(0x5eed_cafe_f00d_0001).await;
    let mut sent = 0;
    for (path, method, op) in f.operations() {
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else { continue };
        for case in 0..24 {
            let concrete = f.path(&path).await;
            let body = named_value("", &f.doc, schema, &mut f.rng, &f.ids, 0);
            let (who, token) = f.who(case);
            let (s, r) = f.w.app.call(method.clone(), &concrete, Some(&token), Some(body.clone())).await;
            assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR, "{method} {concrete} case {case} as {who}\nbody: {body}\nanswer: {r}");
            sent += 1;
        }
    }
    assert!(sent > 300, "only {sent} requests: the document lost its JSON bodies?");
}

/// The same for the operations that take a file: multipart bodies from the
/// document's schema (odd files, names and types, broken bodies) and odd
/// CSV files.
#[tokio::test]
async fn no_generated_upload_gets_a_server_error_from_any_endpoint() {
    let mut f = fuzz(0x5eed_cafe_f00d_0004).await;
    let mut sent = 0;
    for (path, method, op) in f.operations() {
        let content = &op["requestBody"]["content"];
        let multipart_schema = content.get("multipart/form-data").map(|c| resolve(&f.doc, &c["schema"]).clone());
        if multipart_schema.is_none() && content.get("text/csv").is_none() {
            continue;
        }
        for case in 0..24 {
            let concrete = f.path(&path).await + &f.query(&op);
            let (who, token) = f.who(case);
            let req = f.w.app.http.request(method.clone(), format!("{}{concrete}", f.w.app.url)).bearer_auth(&token);
            let req = match &multipart_schema {
                Some(schema) => {
                    let mut fields = Vec::new();
                    let mut files = Vec::new();
                    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                        if property["format"] == "binary" {
                            files.push(name.clone());
                        } else if let Value::String(v) = named_value(name, &f.doc, property, &mut f.rng, &f.ids, 0) {
                            fields.push(format!("{name}={}", urlencoding::encode(&v)));
                        }
                    }
                    let (content_type, bytes) = multipart(&mut f.rng, &fields, &files);
                    req.header("content-type", content_type).body(bytes)
                }
                None => req.header("content-type", "text/csv").body(f.rng.pick(FILES).1.to_vec()),
            };
            let res = req.send().await.unwrap();
            let status = res.status();
            let answer = res.text().await.unwrap_or_default();
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {concrete} case {case} as {who}\nanswer: {answer}");
            sent += 1;
        }
    }
    assert_eq!(sent, 48, "the evidence upload and the visits file");
}

/// The same for every GET: query parameters and path ids generated from
/// the document (odd limits and offsets, months, dates, free text), by the
/// admin and by a provider.
#[tokio::test]
async fn no_generated_query_gets_a_server_error_from_any_endpoint() {
    let mut f = fuzz(0x5eed_cafe_f00d_0002).await;
    let mut sent = 0;
    for (path, _, op) in f.operations().into_iter().filter(|(_, method, _)| method == Method::GET) {
        for case in 0..12 {
            let concrete = f.path(&path).await + &f.query(&op);
            let (who, token) = f.who(case);
            let (s, r) = f.w.app.call(Method::GET, &concrete, Some(&token), None).await;
            assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR, "GET {concrete} case {case} as {who}\nanswer: {r}");
            sent += 1;
        }
    }
    assert!(sent > 300, "only {sent} requests");
}

/// The HTML tags named `name` in `html` (up to their `>`).
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if after.starts_with([' ', '>', '\n']) {
            let end = after.find('>').unwrap_or(after.len());
            out.push(&rest[i..i + open.len() + end]);
        }
        rest = after;
    }
    out
}

fn attr(tag: &str, key: &str) -> Option<String> {
    let pat = format!(" {key}=\"");
    let start = tag.find(&pat)? + pat.len();
    let len = tag[start..].find('"')?;
    let raw = &tag[start..start + len];
    Some(
        raw.replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// One POST form of a page: its action and fields with the values the page
/// gave them (a select's first option).
#[derive(Debug)]
struct HtmlForm {
    action: String,
    fields: Vec<(String, String)>,
    /// `enctype="multipart/form-data"`: the names of its file inputs.
    files: Option<Vec<String>>,
}

fn forms_of(page: &str, html: &str) -> Vec<HtmlForm> {
    let mut out = Vec::new();
    for chunk in html.split("<form").skip(1) {
        let body = chunk.split("</form>").next().unwrap_or("");
        let head = format!("<form{}", &body[..body.find('>').unwrap_or(0)]);
        if attr(&head, "method").map(|m| m.to_lowercase()) != Some("post".into()) {
            continue;
        }
        let files = (attr(&head, "enctype").as_deref() == Some("multipart/form-data")).then(|| {
            tags(body, "input").into_iter().filter(|t| attr(t, "type").as_deref() == Some("file")).filter_map(|t| attr(t, "name")).collect()
        });
        let action = attr(&head, "action").unwrap_or_else(|| page.to_string());
        let mut fields = Vec::new();
        for t in tags(body, "input") {
            let kind = attr(t, "type").unwrap_or_default();
            if let (Some(n), false) = (attr(t, "name"), kind == "submit" || kind == "file") {
                if kind != "checkbox" && kind != "radio" || t.contains(" checked") {
                    fields.push((n, attr(t, "value").unwrap_or_default()));
                }
            }
        }
        for select in body.split("<select").skip(1) {
            let head = select.split('>').next().unwrap_or("");
            if let Some(n) = attr(&format!("<select{head}"), "name") {
                let first = tags(select, "option").first().and_then(|o| attr(o, "value")).unwrap_or_default();
                fields.push((n, first));
            }
        }
        for t in tags(body, "textarea") {
            if let Some(n) = attr(t, "name") {
                fields.push((n, String::new()));
            }
        }
        out.push(HtmlForm { action, fields, files });
    }
    out
}

/// Odd file names, contents and types for an upload.
const FILES: &[(&str, &[u8])] = &[
    ("visits.csv", b"external_id;client;service_type;status;actual_start;actual_end\nx1;19121212-1212;personal_care;performed;2026-03-02 08:00;2026-03-02 09:00\n"),
    ("visits.csv", b"provider_org_nr;client_person_id\n"),
    ("", b""),
    ("../../etc/passwd", b"root:x:0:0"),
    ("a\u{0}b.pdf", b"%PDF-1.4\n%%EOF"),
    ("\u{202e}fdp.exe", b"MZ\x90\x00"),
    ("intyg \"x\".pdf", b"\xff\xfe\x00\x00not utf-8"),
];

/// A multipart body by hand (reqwest's multipart feature is not enabled):
/// the form's fields as they were (already URL-encoded pairs, decoded back),
/// and each file input with an odd file, now and then a long name or a
/// large file, now and then cut off before the closing boundary.
fn multipart(rng: &mut Rng, pairs: &[String], files: &[String]) -> (String, Vec<u8>) {
    let boundary = format!("valfri-fuzz-{:x}", rng.next());
    let mut body = Vec::new();
    for pair in pairs {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (urlencoding::decode(name).unwrap_or_default(), urlencoding::decode(value).unwrap_or_default());
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    for input in files {
        let (name, bytes) = *rng.pick(FILES);
        let name = if rng.below(8) == 0 { format!("{}.csv", "n".repeat(3000)) } else { name.to_string() };
        let content_type = *rng.pick(&["text/csv", "application/pdf", "application/octet-stream", "image/png", "x/\u{0}"]);
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{input}\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        if rng.below(8) == 0 {
            body.extend(std::iter::repeat_n(b'x', 3 << 20));
        }
        body.extend_from_slice(b"\r\n");
    }
    if rng.below(8) != 0 {
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    }
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Every page a user can reach from the start page, and every form on
/// them sent back with odd values (uploads with odd files): never a 500 in the web interface
/// either. As the admin, provider A, a case officer and a citizen.
#[tokio::test]
async fn no_page_or_form_of_the_web_interface_gets_a_server_error() {
    let mut f = fuzz(0x5eed_cafe_f00d_0003).await;
    let (mut pages, mut posts, mut multiparts) = (0, 0, 0);
    // A case officer and the client themself have pages of their own.
    let client: String = sqlx::query_scalar("SELECT id FROM clients ORDER BY 1 LIMIT 1").fetch_one(&f.w.app.state.db.pool).await.unwrap();
    f.w.app.add_user("citizen", valfri::auth::Role::Citizen, None, Some(&client)).await;
    f.w.app.add_user("officer", valfri::auth::Role::CaseOfficer, None, None).await;
    let (citizen, officer) = (f.w.app.token("citizen").await, f.w.app.token("officer").await);
    for token in [f.w.admin.clone(), f.w.a_token.clone(), officer, citizen] {
        let mut seen = std::collections::BTreeSet::new();
        // The start page, and pages no link on the way reaches (a client's
        // is found by a search).
        let mut queue = std::collections::VecDeque::from(["/".to_string(), "/compare?postcode=831+30&services=personal_care".into()]);
        for (pattern, sql) in [
            ("/clients/{}", "SELECT id FROM clients"),
            ("/clients/{}/decisions", "SELECT id FROM clients"),
            ("/clients/{}/choose", "SELECT id FROM clients"),
            ("/decisions/{}", "SELECT id FROM decisions"),
            ("/decisions/{}/change", "SELECT id FROM decisions"),
            ("/providers/{}", "SELECT id FROM providers"),
            ("/letters/choice/{}", "SELECT id FROM choices"),
        ] {
            let ids: Vec<String> = sqlx::query_scalar(sql).fetch_all(&f.w.app.state.db.pool).await.unwrap();
            queue.extend(ids.iter().map(|id| pattern.replace("{}", id)));
        }
        queue
            .extend(["/contracts/apply", "/admin/visits/flags", "/provider/settlements", "/provider/assignments", "/my"].map(String::from));
        let mut forms = Vec::new();
        while let Some(page) = queue.pop_front() {
            if seen.len() >= 150 || !seen.insert(page.clone()) {
                continue;
            }
            let res = f.w.app.http.get(format!("{}{page}", f.w.app.url)).bearer_auth(&token).send().await.unwrap();
            let status = res.status();
            let html = res.text().await.unwrap();
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "GET {page}: {html}");
            pages += 1;
            for a in tags(&html, "a") {
                if let Some(href) = attr(a, "href") {
                    let href = href.split('#').next().unwrap_or("").to_string();
                    if href.starts_with('/') && !href.starts_with("/api") && !href.contains("logout") && !href.contains("lang=") {
                        queue.push_back(href);
                    }
                }
            }
            forms.extend(forms_of(&page, &html).into_iter().filter(|x| !x.action.contains("logout") && !x.action.contains("/login")));
        }
        for form in &forms {
            for case in 0..8 {
                let body: Vec<String> = form
                    .fields
                    .iter()
                    .map(|(name, value)| {
                        let v = match f.rng.below(6) {
                            0 => f.rng.pick(STRINGS).to_string(),
                            1 => f.rng.pick(INTEGERS).to_string(),
                            _ if case == 0 => value.clone(),
                            2 => "x".repeat(3000),
                            _ => value.clone(),
                        };
                        format!("{}={}", urlencoding::encode(name), urlencoding::encode(&v))
                    })
                    .collect();
                let req = f.w.app.http.post(format!("{}{}", f.w.app.url, form.action)).bearer_auth(&token);
                let req = match &form.files {
                    None => req.header("content-type", "application/x-www-form-urlencoded").body(body.join("&")),
                    Some(files) => {
                        multiparts += 1;
                        let (content_type, bytes) = multipart(&mut f.rng, &body, files);
                        req.header("content-type", content_type).body(bytes)
                    }
                };
                let res = req.send().await.unwrap();
                let status = res.status();
                // A broken multipart body is answered before the rest of it is
                // read, and the server then closes the connection: the status
                // arrives, the page may not.
                let html = res.text().await.unwrap_or_default();
                assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "POST {} {body:?}: {html}", form.action);
                posts += 1;
            }
        }
    }
    assert!(pages > 30 && posts > 30, "only {pages} pages and {posts} form posts: did the crawl lose its way?");
    assert!(multiparts >= 16, "only {multiparts} uploads: the visits upload and the application form should both be posted");
}

/// Every operation but the public ones refuses a request without a token
/// or with a bad one: 401 and a problem body, before the body is read.
#[tokio::test]
async fn every_operation_but_the_public_ones_needs_a_token() {
    let mut f = fuzz(0x5eed_cafe_f00d_0005).await;
    let mut publics = Vec::new();
    for (path, method, op) in f.operations() {
        let concrete = f.path(&path).await;
        let public = op.get("security").is_some();
        if public {
            publics.push(format!("{method} {path}"));
        }
        for token in [None, Some("not-a-token")] {
            let (s, b) = f.w.app.call(method.clone(), &concrete, token, Some(json!({}))).await;
            if public {
                assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR, "{method} {concrete}: {b}");
            } else {
                assert_eq!(
                    (s, b["code"].as_str()),
                    (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
                    "{method} {concrete} with {token:?}: {b}"
                );
            }
        }
    }
    assert_eq!(
        publics,
        [
            "POST /api/v1/auth/token",
            "GET /api/v1/compare",
            "POST /api/v1/provider-registrations",
            "GET /api/v1/providers",
            "GET /api/v1/providers/{id}",
            "GET /api/v1/providers/{id}/profile"
        ],
        "the operations anyone may call: signing in, registering as a provider, and the public comparison"
    );
}

/// The demo municipality as four users see it, and what identifies its
/// clients, for the audit sweeps below.
struct AuditSweep {
    app: TestApp,
    provider_user: String,
    /// (username, token)
    users: Vec<(String, String)>,
    /// Each client's id, identity number (with and without the century)
    /// and name.
    personal: std::collections::HashSet<String>,
    /// The clients each user may see (`None`: all): a provider those it
    /// has or had an assignment for, a citizen themself.
    may_see: Vec<Option<std::collections::HashSet<String>>>,
    /// A client's id and identity numbers → its id.
    client_of: std::collections::HashMap<String, String>,
    /// What showed client data: "<what> as <user>".
    shown: std::collections::BTreeSet<String>,
    unaudited: Vec<String>,
    leaks: Vec<String>,
}

impl AuditSweep {
    async fn new() -> AuditSweep {
        let app = crate::common::spawn_app().await;
        valfri::demo::ensure(&app.state).await.unwrap();
        let pool = &app.state.db.pool;
        let provider_user: String = sqlx::query_scalar("SELECT username FROM users WHERE role = 'provider' ORDER BY username LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
        let clients: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, person_id, name FROM clients").fetch_all(pool).await.unwrap();
        let client_of = clients
            .iter()
            .flat_map(|(id, pnr, _)| {
                [(id.clone(), id.clone()), (pnr.clone(), id.clone()), (pnr.get(2..).unwrap_or_default().to_string(), id.clone())]
            })
            .collect();
        let personal =
            clients.into_iter().flat_map(|(id, pnr, name)| [id, pnr.get(2..).unwrap_or_default().to_string(), pnr, name]).collect();
        let own: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT a.client_id FROM assignments a JOIN users u ON u.provider_id = a.provider_id WHERE u.username = $1",
        )
        .bind(&provider_user)
        .fetch_all(pool)
        .await
        .unwrap();
        let citizen: String = sqlx::query_scalar("SELECT client_id FROM users WHERE username = 'brukare'").fetch_one(pool).await.unwrap();
        let may_see = vec![None, None, Some(own.into_iter().collect()), Some([citizen].into_iter().collect())];
        let mut users = Vec::new();
        for user in ["admin", "handlaggare", provider_user.as_str(), "brukare"] {
            users.push((user.to_string(), crate::decisions::demo_token(&app, user).await));
        }
        AuditSweep {
            app,
            provider_user,
            users,
            personal,
            may_see,
            client_of,
            shown: Default::default(),
            unaudited: Vec::new(),
            leaks: Vec::new(),
        }
    }

    /// GETs `url` as user number `user`; when the answer shows client data
    /// (among the `values` it is made of), an audit event must have been
    /// written. Returns the answer's body.
    async fn get(&mut self, user: usize, url: &str, what: String, values: fn(&str) -> Vec<String>) -> String {
        let audit_rows =
            || async { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log").fetch_one(&self.app.state.db.pool).await.unwrap() };
        let (name, token) = &self.users[user];
        // Every page names who is signed in: a citizen's own name there is
        // not a read of anyone's data.
        let own_name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE username = $1")
            .bind(name)
            .fetch_one(&self.app.state.db.pool)
            .await
            .unwrap();
        let before = audit_rows().await;
        let res = self.app.http.get(format!("{}{url}", self.app.url)).bearer_auth(token).send().await.unwrap();
        let (status, body) = (res.status(), res.text().await.unwrap());
        let values = values(&body);
        let shown = values.iter().filter(|v| self.personal.contains(*v) && **v != own_name).count();
        if let (true, Some(may_see)) = (status.is_success(), &self.may_see[user]) {
            let others: std::collections::BTreeSet<&String> =
                values.iter().filter_map(|v| self.client_of.get(v)).filter(|c| !may_see.contains(*c)).collect();
            if !others.is_empty() {
                self.leaks.push(format!("GET {url} as {name}: {status}, shows {others:?}"));
            }
        }
        if status.is_success() && shown > 0 {
            let after = audit_rows().await;
            self.shown.insert(format!("{what} as {name}"));
            if after == before {
                self.unaudited.push(format!("GET {url} as {name}: {status}, {shown} values of clients"));
            }
        }
        body
    }

    /// No unaudited read, no client shown to whom may not see it, and
    /// client data seen where it must be (a lost id or query parameter
    /// would make a sweep pass by seeing nothing).
    fn check(&self, musts: &[&str]) {
        assert!(self.unaudited.is_empty(), "reads of a client's data without an audit event: {:#?}", self.unaudited);
        assert!(self.leaks.is_empty(), "clients shown to a user who may not see them: {:#?}", self.leaks);
        for must in musts {
            let must = must.replace("PROVIDER", &self.provider_user);
            assert!(self.shown.contains(&must), "{must} showed no client data: {:#?}", self.shown);
        }
    }
}

/// The string values of a JSON answer, or the fields of a CSV one.
fn json_or_csv_values(body: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut out = Vec::new();
            let mut stack = vec![v];
            while let Some(v) = stack.pop() {
                match v {
                    Value::String(s) => out.push(s),
                    Value::Array(a) => stack.extend(a),
                    Value::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
                    _ => {}
                }
            }
            out
        }
        Err(_) => body.split(['\n', ';', ',', '\t', '"']).map(str::to_owned).collect(),
    }
}

/// The text and the link segments of a page.
fn html_values(html: &str) -> Vec<String> {
    html.split(['<', '>', '"', '/', '?', '=', '&', '\n']).map(|t| t.trim().to_string()).collect()
}

/// Every GET of the API that shows a client's data (id, identity number or
/// name) to anyone writes an audit event, and shows only clients the user
/// may see (a provider: those it has or had an assignment for; a citizen:
/// themself). Swept over the document on the demo municipality (visits,
/// settlements, choices, tasks) as the admin, a case officer, a provider
/// and a citizen, with ids of the provider's records, the citizen's and
/// someone else's.
#[tokio::test]
async fn every_read_of_a_clients_data_through_the_api_is_audited_and_allowed() {
    let mut sweep = AuditSweep::new().await;
    let pool = sweep.app.state.db.pool.clone();
    let one = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, String>(sql).fetch_optional(&pool).await.unwrap() }
    };
    let provider: String =
        sqlx::query_scalar("SELECT provider_id FROM users WHERE username = $1").bind(&sweep.provider_user).fetch_one(&pool).await.unwrap();
    let citizen_client = one("SELECT client_id FROM users WHERE role = 'citizen'").await.unwrap();
    let month = one("SELECT MIN(month) FROM settlements").await.unwrap();
    let by_provider = |sql: String| {
        let (pool, provider) = (pool.clone(), provider.clone());
        async move { sqlx::query_scalar::<_, String>(&sql).bind(provider).fetch_optional(&pool).await.unwrap() }
    };
    // Per resource: ids the provider can see, then (where there is one)
    // the citizen's, then ids of someone else's: another provider's
    // records, a client the provider never had.
    let mut ids: Vec<(&str, Vec<Option<String>>)> = Vec::new();
    let ours = "IN (SELECT client_id FROM assignments WHERE provider_id = $1)";
    for (resource, column, table, whose) in [
        ("clients", "id", "clients", "id"),
        ("decisions", "id", "decisions", "client_id"),
        ("choices", "id", "choices", "client_id"),
        ("assignments", "id", "assignments", "provider_id"),
        ("settlements", "id", "settlements", "provider_id"),
        ("contracts", "id", "contracts", "provider_id"),
        ("providers", "id", "providers", "id"),
        ("imports", "id", "visit_imports", "provider_id"),
        ("visits", "external_id", "visits", "provider_id"),
    ] {
        let (mine, theirs) = if whose == "provider_id" || resource == "providers" {
            (format!("{whose} = $1"), format!("{whose} <> $1"))
        } else {
            (format!("{whose} {ours}"), format!("{whose} NOT {ours}"))
        };
        let citizen = (resource == "clients").then(|| citizen_client.clone());
        ids.push((
            resource,
            vec![
                by_provider(format!("SELECT MIN({column}) FROM {table} WHERE {mine}")).await,
                citizen,
                by_provider(format!("SELECT MIN({column}) FROM {table} WHERE {theirs}")).await,
            ],
        ));
    }
    ids.push(("choice-systems", vec![one("SELECT MIN(id) FROM choice_systems").await]));
    ids.push(("tasks", vec![one("SELECT MIN(id) FROM choice_tasks").await]));
    let client_of_provider = ids[0].1[0].clone().unwrap();

    let doc = serde_json::to_value(valfri::api::openapi()).unwrap();
    let mut requested = std::collections::HashSet::new();
    for (path, method, op) in operations(&doc) {
        // The session's own account (a citizen's names its client) is not
        // a read of someone's data.
        if method != Method::GET || op.get("security").is_some() || path == "/api/v1/auth/me" {
            continue;
        }
        // Each way of filling the path's ids: the first candidate of every
        // resource, then the others where there are any.
        for variant in 0..3 {
            let mut concrete = String::new();
            let mut previous = "";
            let mut complete = true;
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                concrete.push('/');
                if segment.starts_with('{') {
                    let list = ids.iter().find(|(r, _)| *r == previous).map(|(_, l)| l.as_slice()).unwrap_or_default();
                    match list.get(variant).cloned().flatten().or_else(|| list.first().cloned().flatten()) {
                        Some(id) => concrete.push_str(&urlencoding::encode(&id)),
                        None => complete = false,
                    }
                } else {
                    concrete.push_str(segment);
                }
                previous = segment;
            }
            if !complete || (variant > 0 && !path.contains('{')) {
                continue;
            }
            let mut query = Vec::new();
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
                let name = p["name"].as_str().unwrap();
                let value = match name {
                    "month" => month.clone(),
                    "provider_id" => provider.clone(),
                    "client_id" => client_of_provider.clone(),
                    "postcode" => "831 30".into(),
                    _ => continue,
                };
                query.push(format!("{name}={}", urlencoding::encode(&value)));
            }
            if !query.is_empty() {
                concrete = format!("{concrete}?{}", query.join("&"));
            }
            if !requested.insert(concrete.clone()) {
                continue;
            }
            for user in 0..sweep.users.len() {
                sweep.get(user, &concrete, format!("GET {path}"), json_or_csv_values).await;
            }
        }
    }
    sweep.check(&[
        "GET /api/v1/clients/{id} as brukare",
        "GET /api/v1/providers/{id}/clients as PROVIDER",
        "GET /api/v1/visits as PROVIDER",
        "GET /api/v1/settlements/{id}/statement.csv as PROVIDER",
        "GET /api/v1/decisions/{id} as handlaggare",
        "GET /api/v1/choices/{id} as admin",
        "GET /api/v1/audit as admin",
    ]);
    assert!(sweep.shown.len() >= 40, "{:#?}", sweep.shown);
}

/// The same for the web interface: every page a demo user reaches from the
/// start page (and a client's pages, the audit log, someone else's pages)
/// that shows a client's id, identity number or name writes an audit event,
/// and shows only clients the user may see.
#[tokio::test]
async fn every_page_that_shows_a_clients_data_is_audited_and_allowed() {
    use std::collections::{BTreeSet, VecDeque};
    let mut sweep = AuditSweep::new().await;
    let client: String = sqlx::query_scalar("SELECT MIN(id) FROM clients").fetch_one(&sweep.app.state.db.pool).await.unwrap();
    // Someone else's pages, which the provider must not see: a client it
    // never had, with their decision and choice letter, and another
    // provider's settlement.
    let not_ours = "(SELECT a.client_id FROM assignments a JOIN users u ON u.provider_id = a.provider_id WHERE u.username = $1)";
    let mut foreign = Vec::new();
    for (page, sql) in [
        ("/clients/", format!("SELECT MIN(id) FROM clients WHERE id NOT IN {not_ours}")),
        ("/decisions/", format!("SELECT MIN(id) FROM decisions WHERE client_id NOT IN {not_ours}")),
        ("/letters/choice/", format!("SELECT MIN(id) FROM choices WHERE client_id NOT IN {not_ours}")),
        (
            "/settlements/",
            "SELECT MIN(s.id) FROM settlements s JOIN users u ON u.provider_id <> s.provider_id WHERE u.username = $1".into(),
        ),
    ] {
        let id: Option<String> = sqlx::query_scalar(&sql).bind(&sweep.provider_user).fetch_one(&sweep.app.state.db.pool).await.unwrap();
        foreign.push(format!("{page}{}", id.expect(page)));
    }
    for user in 0..sweep.users.len() {
        let mut queue = VecDeque::from([
            "/".to_string(),
            "/admin/audit".into(),
            "/clients?q=a".into(),
            "/my".into(),
            format!("/clients/{client}"),
            format!("/admin/audit?client_id={client}"),
        ]);
        queue.extend(foreign.iter().cloned());
        let mut seen = BTreeSet::new();
        while let Some(page) = queue.pop_front() {
            if seen.len() >= 120 || !seen.insert(page.clone()) {
                continue;
            }
            // The page's path with its ids as `{id}`.
            let path = page.split('?').next().unwrap_or_default().split('/').map(|seg| {
                if seg.len() == 36 && seg.matches('-').count() == 4 {
                    "{id}"
                } else {
                    seg
                }
            });
            let html = sweep.get(user, &page, path.collect::<Vec<_>>().join("/"), html_values).await;
            for a in tags(&html, "a") {
                if let Some(href) = attr(a, "href") {
                    let href = href.split('#').next().unwrap_or("").to_string();
                    if href.starts_with('/') && !href.starts_with("/api") && !href.contains("logout") && !href.contains("lang=") {
                        queue.push_back(href);
                    }
                }
            }
        }
    }
    sweep.check(&[
        "/clients/{id} as handlaggare",
        "/decisions/{id} as handlaggare",
        "/tasks as handlaggare",
        "/admin/audit as admin",
        "/provider/assignments as PROVIDER",
        "/provider/visits/flags as PROVIDER",
        "/settlements/{id} as PROVIDER",
    ]);
}
