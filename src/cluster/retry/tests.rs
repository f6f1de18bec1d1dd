use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::{Service, ServiceExt, service_fn};

use super::*;

fn response(code: u16) -> Response<()> {
    Response::builder().status(code).body(()).unwrap()
}

#[test]
fn statuses_that_mean_later_are_retried_and_answers_are_not() {
    for code in [429, 500, 502, 503, 504] {
        assert_eq!(
            judge_response(&Method::GET, PODS, &response(code)),
            Verdict::Retry(None),
            "{code}"
        );
    }
    for code in [200, 201, 400, 401, 403, 404, 409, 410, 422] {
        assert_eq!(
            judge_response(&Method::PATCH, PODS, &response(code)),
            Verdict::Done,
            "{code}"
        );
    }
}

const PODS: &str = "/api/v1/namespaces/x/pods";

#[test]
fn what_a_node_or_service_answered_through_the_server_is_final() {
    // A node that serves no logs makes the API server answer 500; asking again
    // cannot change that.
    for path in [
        "/api/v1/namespaces/x/pods/p/log",
        "/api/v1/namespaces/x/pods/p/exec",
        "/api/v1/namespaces/x/services/http:prom:9090/proxy/api/v1/query",
    ] {
        assert_eq!(
            judge_response(&Method::GET, path, &response(500)),
            Verdict::Done,
            "{path}"
        );
        assert_eq!(
            judge_response(&Method::GET, path, &response(503)),
            Verdict::Done,
            "{path}"
        );
    }
    assert!(!is_proxied("/api/v1/namespaces/proxy/pods"));
    assert!(!is_proxied("/api/v1/namespaces/log/pods/log"));
    assert!(!is_proxied("/apis/apps/v1/namespaces/x/deployments/logger"));
}

#[test]
fn a_create_is_repeated_only_when_the_server_refused_it() {
    assert_eq!(
        judge_response(&Method::POST, PODS, &response(429)),
        Verdict::Retry(None)
    );
    assert_eq!(
        judge_response(&Method::POST, PODS, &response(503)),
        Verdict::Retry(None)
    );
    // A 500 may have created the object: repeating it would turn into 409.
    assert_eq!(
        judge_response(&Method::POST, PODS, &response(500)),
        Verdict::Done
    );
    assert_eq!(
        judge_response(&Method::POST, PODS, &response(504)),
        Verdict::Done
    );
}

#[test]
fn retry_after_is_honoured() {
    let r = Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("Retry-After", "3")
        .body(())
        .unwrap();
    assert_eq!(
        judge_response(&Method::GET, PODS, &r),
        Verdict::Retry(Some(Duration::from_secs(3)))
    );
}

#[test]
fn connection_errors_are_told_apart() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(classify(&refused), TransportFailure::NotConnected);
    assert_eq!(judge_error(&Method::POST, &refused), Verdict::Retry(None));

    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    assert_eq!(classify(&reset), TransportFailure::Interrupted);
    assert_eq!(judge_error(&Method::GET, &reset), Verdict::Retry(None));
    // The create may have landed before the reset.
    assert_eq!(judge_error(&Method::POST, &reset), Verdict::Done);

    let tls = std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid peer certificate");
    assert_eq!(classify(&tls), TransportFailure::Other);
    assert_eq!(judge_error(&Method::GET, &tls), Verdict::Done);
}

#[test]
fn a_wrapped_cause_is_found() {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }
    let e = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    assert_eq!(classify(&e), TransportFailure::NotConnected);
}

#[test]
fn backoff_is_short_capped_and_jittered() {
    for attempt in 0..20 {
        let d = backoff(attempt);
        assert!(d >= Duration::from_millis(150), "{attempt}: {d:?}");
        assert!(d <= Duration::from_secs(2), "{attempt}: {d:?}");
    }
    assert!(backoff(0) < Duration::from_millis(300));
    assert!(backoff(10) >= Duration::from_millis(1200));
}

/// A service that answers `codes` in turn, counting calls.
fn scripted(
    codes: Vec<u16>,
    calls: Arc<AtomicU32>,
) -> impl Service<Request<Body>, Response = Response<()>, Error = BoxError, Future: Send> + Clone {
    let codes = Arc::new(codes);
    service_fn(move |_req: Request<Body>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        let code = codes.get(n).or(codes.last()).copied().unwrap_or(200);
        async move { Ok::<_, BoxError>(response(code)) }
    })
}

fn get() -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri("/api/v1/namespaces/x/pods")
        .body(Body::from(Vec::new()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_server_that_comes_back_is_answered_without_an_error() {
    let calls = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::default();
    let svc = tower::retry::Retry::new(
        Transient::new(budget),
        scripted(vec![503, 502, 500, 200], calls.clone()),
    );
    let r = svc.oneshot(get()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn answers_come_back_at_once() {
    for code in [403, 404, 409, 422] {
        let calls = Arc::new(AtomicU32::new(0));
        let svc = tower::retry::Retry::new(
            Transient::new(RetryBudget::default()),
            scripted(vec![code, 200], calls.clone()),
        );
        let r = svc.oneshot(get()).await.unwrap();
        assert_eq!(r.status().as_u16(), code);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{code} was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn the_budget_bounds_the_retries() {
    let calls = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::default();
    budget.per_request(Duration::from_secs(5));
    let svc = tower::retry::Retry::new(Transient::new(budget), scripted(vec![503], calls.clone()));
    let started = Instant::now();
    let r = svc.oneshot(get()).await.unwrap();
    assert_eq!(
        r.status(),
        503,
        "the last answer is returned once the budget is spent"
    );
    assert!(started.elapsed() <= Duration::from_secs(5));
    assert!(
        calls.load(Ordering::SeqCst) > 3,
        "retried a few times first"
    );

    let calls = Arc::new(AtomicU32::new(0));
    let none = RetryBudget::default();
    none.per_request(Duration::ZERO);
    let svc = tower::retry::Retry::new(Transient::new(none), scripted(vec![503], calls.clone()));
    svc.oneshot(get()).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a zero budget never retries"
    );
}

#[tokio::test(start_paused = true)]
async fn an_operation_deadline_outlasts_the_default() {
    let calls = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::default();
    budget.until(Instant::now() + Duration::from_secs(120));
    // Down for about a minute (60 answers of 503 at ≥ 0.2 s each... far longer than
    // the default budget of 30 s), then back.
    let mut codes = vec![503; 60];
    codes.push(200);
    let svc = tower::retry::Retry::new(Transient::new(budget), scripted(codes, calls.clone()));
    let started = Instant::now();
    let r = svc.oneshot(get()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() > DEFAULT_BUDGET);
}
