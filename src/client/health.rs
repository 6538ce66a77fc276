//! A `grpc.health.v1.Health/Check` probe, behind `compact-asr health`.
//!
//! Why our own: the container image's HEALTHCHECK and Kubernetes exec probes need a command
//! that exits 0 only while the server answers SERVING. The image already holds this binary, so
//! it probes itself instead of shipping a separate `grpc_health_probe`; and one overall
//! deadline makes a hung server fail the probe instead of hanging it.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Why a health check did not find the service SERVING.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("invalid server URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("no health answer from {url} within {} ms", .after.as_millis())]
    Timeout { url: String, after: Duration },
    #[error("health check of {} failed: {}: {}", describe(.service), .status.code(), .status.message())]
    Rpc {
        service: String,
        status: tonic::Status,
    },
    #[error("{} is {status}, not SERVING", describe(.service))]
    NotServing { service: String, status: String },
}

/// Names the checked service the way operators read it.
fn describe(service: &str) -> String {
    if service.is_empty() {
        "the server (service \"\")".to_owned()
    } else {
        format!("service {service:?}")
    }
}

/// Asks the server at `url` (e.g. `http://127.0.0.1:50051`) whether `service` ("" for the
/// whole server) is SERVING; connecting and answering must both fit in `timeout`.
///
/// `Ok` only for SERVING; every other answer, and no answer, is an error saying why.
pub async fn check(url: &str, service: &str, timeout: Duration) -> Result<(), HealthError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| HealthError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let call = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| HealthError::Connect {
                url: url.to_owned(),
                source,
            })?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map_err(|status| HealthError::Rpc {
                service: service.to_owned(),
                status,
            })
    };
    let response = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| HealthError::Timeout {
            url: url.to_owned(),
            after: timeout,
        })??
        .into_inner();
    match response.status() {
        ServingStatus::Serving => Ok(()),
        other => Err(HealthError::NotServing {
            service: service.to_owned(),
            status: other.as_str_name().to_owned(),
        }),
    }
}
