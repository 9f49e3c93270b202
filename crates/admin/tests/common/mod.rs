//! A real Admin API on loopback over a real database, for the contract tests. Each test gets a fresh
//! SQLite file or a fresh database in the test binary's throwaway PostgreSQL cluster.

#![allow(dead_code)]

use gatehouse_admin::{AdminOptions, AdminState, Counters, NodeInfo};
use gatehouse_store::dao::Dao;
use gatehouse_store::{DbConfig, PgConfig, Store};
use gatehouse_testkit::{PgCluster, TempDir};
use serde_json::Value;
use std::sync::Arc;

/// Body size limit for the contract tests, small enough to test 413 cheaply.
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    _dir: Option<TempDir>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Api {
    pub async fn sqlite() -> Api {
        let dir = TempDir::new("admin-sqlite").expect("temp dir");
        let db = DbConfig::Sqlite { path: dir.path.join("gatehouse.db") };
        Api::start(db, Some(dir)).await
    }

    pub async fn postgres() -> Api {
        let cluster = PgCluster::shared().expect("throwaway PostgreSQL cluster");
        let database = cluster.create_database("admin").expect("create database");
        let db = DbConfig::Postgres(PgConfig::new(cluster.host.clone(), cluster.port, cluster.user.clone(), database));
        Api::start(db, None).await
    }

    async fn start(db: DbConfig, dir: Option<TempDir>) -> Api {
        let store = Store::open(&db, uuid::Uuid::new_v4()).await.expect("open store");
        store.migrate_up().await.expect("migrate");
        let plugins: Vec<String> = gatehouse_model::plugins::BUNDLED.iter().map(|p| p.name.to_string()).collect();
        let state = Arc::new(AdminState {
            dao: Dao::new(store.clone(), plugins),
            info: NodeInfo {
                node_id: uuid::Uuid::new_v4().to_string(),
                hostname: "test-host".into(),
                version: "0.1.0".into(),
                configuration: serde_json::json!({"database": "test", "pg_password": "******"}),
            },
            options: AdminOptions { max_body_bytes: BODY_LIMIT, ..AdminOptions::default() },
            counters: Arc::new(Counters::default()),
            on_write: None,
            health: None,
            snapshot_digest: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = gatehouse_admin::router(state).layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Api { base: format!("http://{addr}"), client: reqwest::Client::new(), store, _dir: dir }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.put(self.url(path)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.patch(self.url(path)).json(&body)).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(self.client.post(self.url(path)).form(form)).await
    }

    pub async fn raw(&self, method: reqwest::Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        self.send(request).await
    }

    pub async fn multipart(&self, path: &str, form: reqwest::multipart::Form) -> Reply {
        self.send(self.client.post(self.url(path)).multipart(form)).await
    }

    /// Creates an entity and returns it, failing the test on anything but 201.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let reply = self.post(path, body).await;
        assert_eq!(reply.status, 201, "POST {path}: {}", reply.text);
        reply.body
    }

    /// Counts every row of a collection by paging through it.
    pub async fn count(&self, collection: &str) -> usize {
        let mut total = 0;
        let mut next = Some(format!("/{collection}?size=1000"));
        while let Some(path) = next {
            let reply = self.get(&path).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            total += reply.body["data"].as_array().map(Vec::len).unwrap_or(0);
            next = reply.body["next"].as_str().map(String::from);
        }
        total
    }
}

/// Declares each contract test once per backend.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name(super::common::Api::sqlite().await).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name(super::common::Api::postgres().await).await } )*
        }
    };
}

pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
