//! What the super user sets up on the secured broker: SCRAM users and ACLs, each in one request
//! for many principals (librdkafka's Admin API; the rdkafka crate does not wrap these calls, and
//! a `kafka-acls` JVM per ACL would take minutes).

use std::ffi::{CStr, CString};
use std::ptr;

use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::acls::{Acl, Pattern, ResourceType};

/// Creates (or updates) SCRAM-SHA-512 credentials of `users` (`(name, password)`) and waits until
/// each can authenticate.
pub fn create_scram_users(admin: &AdminClient<DefaultClientContext>, users: &[(String, String)]) {
    create_scram_users_request(admin, users);
    for (user, password) in users {
        wait_until_authenticates(user, password);
    }
}

/// The broker applies new SCRAM credentials from the metadata log a moment after the controller
/// acknowledged them; a tracker started in that moment fails its start with "invalid
/// credentials" (seen once in `make test` on a loaded machine).
fn wait_until_authenticates(user: &str, password: &str) {
    let client: BaseConsumer = crate::support::client()
        .set("sasl.username", user)
        .set("sasl.password", password)
        .create()
        .expect("a client with the new user's credentials");
    crate::support::wait_for(
        &format!("the SCRAM credentials of {user} to be accepted"),
        crate::support::DEADLINE,
        || client.fetch_metadata(None, Duration::from_secs(2)).ok().map(|_| ()),
    );
}

fn create_scram_users_request(admin: &AdminClient<DefaultClientContext>, users: &[(String, String)]) {
    let names: Vec<CString> = users.iter().map(|(name, _)| CString::new(name.as_str()).unwrap()).collect();
    // SAFETY: every pointer passed lives until the call returns; librdkafka copies what it keeps,
    // and every object it hands back is destroyed once, after use.
    unsafe {
        let mut alterations: Vec<*mut rd::rd_kafka_UserScramCredentialAlteration_t> = users
            .iter()
            .zip(&names)
            .map(|((_, password), name)| {
                rd::rd_kafka_UserScramCredentialUpsertion_new(
                    name.as_ptr(),
                    rd::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512,
                    8192,
                    password.as_ptr(),
                    password.len(),
                    ptr::null(),
                    0,
                )
            })
            .collect();
        let rk = admin.inner().native_ptr();
        let queue = rd::rd_kafka_queue_new(rk);
        rd::rd_kafka_AlterUserScramCredentials(rk, alterations.as_mut_ptr(), alterations.len(), ptr::null(), queue);
        rd::rd_kafka_UserScramCredentialAlteration_destroy_array(alterations.as_mut_ptr(), alterations.len());
        let event = await_event(queue, "AlterUserScramCredentials");
        let result = rd::rd_kafka_event_AlterUserScramCredentials_result(event);
        let mut count = 0;
        let responses = rd::rd_kafka_AlterUserScramCredentials_result_responses(result, &mut count);
        for i in 0..count {
            let error = rd::rd_kafka_AlterUserScramCredentials_result_response_error(*responses.add(i));
            check(error, "creating a SCRAM user");
        }
        rd::rd_kafka_event_destroy(event);
        rd::rd_kafka_queue_destroy(queue);
    }
}

/// Creates every `(principal, acl)` binding (ALLOW, any host).
pub fn create_acls(admin: &AdminClient<DefaultClientContext>, bindings: &[(String, Acl)]) {
    let any_host = CString::new("*").unwrap();
    // SAFETY: as in `create_scram_users`.
    unsafe {
        let mut acl_bindings: Vec<*mut rd::rd_kafka_AclBinding_t> = bindings
            .iter()
            .map(|(principal, acl)| {
                let name = CString::new(acl.name.as_str()).unwrap();
                let principal = CString::new(principal.as_str()).unwrap();
                let mut errstr = [0 as std::ffi::c_char; 512];
                let binding = rd::rd_kafka_AclBinding_new(
                    resource_type(acl.resource),
                    name.as_ptr(),
                    match acl.pattern {
                        Pattern::Literal => rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
                        Pattern::Prefixed => rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
                    },
                    principal.as_ptr(),
                    any_host.as_ptr(),
                    operation(&acl.operation),
                    rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                );
                assert!(!binding.is_null(), "{acl:?}: {}", CStr::from_ptr(errstr.as_ptr()).to_string_lossy());
                binding
            })
            .collect();
        let rk = admin.inner().native_ptr();
        let queue = rd::rd_kafka_queue_new(rk);
        rd::rd_kafka_CreateAcls(rk, acl_bindings.as_mut_ptr(), acl_bindings.len(), ptr::null(), queue);
        rd::rd_kafka_AclBinding_destroy_array(acl_bindings.as_mut_ptr(), acl_bindings.len());
        let event = await_event(queue, "CreateAcls");
        let result = rd::rd_kafka_event_CreateAcls_result(event);
        let mut count = 0;
        let results = rd::rd_kafka_CreateAcls_result_acls(result, &mut count);
        assert_eq!(count, bindings.len(), "one result per ACL");
        for i in 0..count {
            check(rd::rd_kafka_acl_result_error(*results.add(i)), "creating an ACL");
        }
        rd::rd_kafka_event_destroy(event);
        rd::rd_kafka_queue_destroy(queue);
    }
}

/// The result event of the one request sent on `queue`; panics on a request-level error.
unsafe fn await_event(queue: *mut rd::rd_kafka_queue_t, request: &str) -> *mut rd::rd_kafka_event_t {
    // SAFETY: the caller passes a live queue.
    unsafe {
        let event = rd::rd_kafka_queue_poll(queue, 60_000);
        assert!(!event.is_null(), "{request}: no answer within 60 s");
        if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = CStr::from_ptr(rd::rd_kafka_event_error_string(event)).to_string_lossy().into_owned();
            panic!("{request} failed: {text}");
        }
        event
    }
}

unsafe fn check(error: *const rd::rd_kafka_error_t, what: &str) {
    // SAFETY: `error` is null or owned by a live result event.
    unsafe {
        if !error.is_null() && rd::rd_kafka_error_code(error) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            panic!("{what} failed: {}", CStr::from_ptr(rd::rd_kafka_error_string(error)).to_string_lossy());
        }
    }
}

fn resource_type(resource: ResourceType) -> rd::rd_kafka_ResourceType_t {
    match resource {
        ResourceType::Topic => rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
        ResourceType::Group => rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_GROUP,
        ResourceType::TransactionalId => rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        ResourceType::Cluster => rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER,
    }
}

fn operation(name: &str) -> rd::rd_kafka_AclOperation_t {
    use rd::rd_kafka_AclOperation_t as Op;
    match name {
        "READ" => Op::RD_KAFKA_ACL_OPERATION_READ,
        "WRITE" => Op::RD_KAFKA_ACL_OPERATION_WRITE,
        "CREATE" => Op::RD_KAFKA_ACL_OPERATION_CREATE,
        "DESCRIBE" => Op::RD_KAFKA_ACL_OPERATION_DESCRIBE,
        "DESCRIBE_CONFIGS" => Op::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        "IDEMPOTENT_WRITE" => Op::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        other => panic!("operation {other} is not used by the tracker's ACL list"),
    }
}
