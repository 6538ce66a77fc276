//! The standard services that let tools look at a running server without our proto files:
//! `grpc.health.v1.Health` (load balancers, orchestrators) and server reflection
//! (grpcurl-style tools). Reflection is served as v1 *and* v1alpha because Python's
//! `grpcio-reflection` client still speaks only v1alpha.

use tonic::server::NamedService;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use tonic_reflection::server::{v1, v1alpha, Builder, Error};

use crate::proto::FILE_DESCRIPTOR_SET;

/// The health service, reporting SERVING for the whole server ("") and for service `S`,
/// and the reporter that flips both to NOT_SERVING when the server starts draining.
///
/// Callers build it only after the model has loaded, so SERVING is true from the start.
pub async fn health_service<S: NamedService>() -> (HealthReporter, HealthServer<impl Health>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_serving::<S>().await;
    (reporter, service)
}

/// Reports NOT_SERVING for the whole server and for `S`, so balancers stop sending calls.
pub async fn set_not_serving<S: NamedService>(reporter: &HealthReporter) {
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter.set_not_serving::<S>().await;
}

/// Reflection v1 and v1alpha, describing our API and the health service.
pub fn reflection_services() -> Result<
    (
        v1::ServerReflectionServer<impl v1::ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    Error,
> {
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

fn builder() -> Builder<'static> {
    Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
