//! Tests of the frame protocol: encoding, limits, and the wire shape of frames.
use super::*;

/// A Python job (`print(1)`, `/usr` read-only), which other modules' tests adjust.
pub(crate) fn spec() -> JobSpec {
    JobSpec {
        language: Language::Python,
        interpreter: "/usr/bin/python3".into(),
        interpreter_args: vec![],
        ro_mounts: vec!["/usr".into()],
        binds: vec![],
        code: "print(1)".into(),
        stdin: String::new(),
        args: vec![],
        env: vec![],
        limits: Limits::default(),
        sandbox: SandboxOptions::default(),
        zk: None,
        egress: None,
        prestart: false,
        files: vec![],
        output: None,
        stream: false,
        session: false,
        fork_server: None,
        netns: None,
    }
}

#[test]
fn a_job_frame_round_trips_through_a_byte_stream() {
    let frame = ServerFrame::Job(Box::new(spec()));
    let bytes = encode_frame(&frame).unwrap();
    assert_eq!(
        u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
        bytes.len() - 4
    );
    let back: ServerFrame = read_frame(&mut &bytes[..]).unwrap();
    assert_eq!(back, frame);
}

#[test]
fn optional_job_fields_may_be_omitted() {
    let json = r#"{"type":"job","language":"javascript","interpreter":"/usr/bin/node",
        "ro_mounts":[],"code":"1"}"#;
    let ServerFrame::Job(job) = serde_json::from_str(json).unwrap() else {
        panic!("a job frame")
    };
    assert_eq!(job.limits, Limits::default());
    assert_eq!(job.sandbox.uid, 65534);
    assert_eq!(job.language.main_file(), "/code/main.js");
    assert!(job.zk.is_none());
}

#[test]
fn an_oversized_length_prefix_is_refused_before_allocating() {
    let bytes = (MAX_FRAME_BYTES + 1).to_be_bytes();
    let err = read_frame::<RunnerFrame>(&mut &bytes[..]).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge(_)));
}

#[test]
fn an_empty_stream_reads_as_closed() {
    let err = read_frame::<RunnerFrame>(&mut &[][..]).unwrap_err();
    assert!(matches!(err, FrameError::Closed));
}
