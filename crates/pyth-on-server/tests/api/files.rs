//! Files in and out of a run through `POST /api/v1/execute`: projects of several files, an
//! entry program, output files (text and binary), and every refusal of a bad path or size.

use pyth_on_types::{ExecuteRequest, FileEncoding, InputFile};

use crate::support::{assert_api_error, TestServer};

fn text(path: &str, content: &str) -> InputFile {
    InputFile {
        path: path.into(),
        content: content.into(),
        encoding: FileEncoding::Utf8,
    }
}

#[tokio::test]
async fn a_python_package_of_several_files_runs_from_its_entry() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&ExecuteRequest {
            files: Some(vec![
                text(
                    "app/main.py",
                    "from pkg.util import twice\nprint(twice(21), __name__)\n",
                ),
                text("app/pkg/__init__.py", ""),
                text("app/pkg/util.py", "def twice(x):\n    return 2 * x\n"),
            ]),
            entry: Some("app/main.py".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (run.output.as_str(), run.exit_code),
        ("42 __main__\n", 0),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_javascript_project_with_local_requires_runs_as_the_main_module() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let main = "const { greet } = require('./lib/greet');\n\
                console.log(greet('js'), require.main === module);\n";
    let run = user
        .key
        .execute(&ExecuteRequest {
            language: Some("javascript".into()),
            files: Some(vec![
                text("src/main.js", main),
                text("src/lib/greet.js", "exports.greet = (n) => `hello ${n}`;\n"),
            ]),
            entry: Some("src/main.js".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "hello js true\n", "{run:?}");
}

#[tokio::test]
async fn input_files_are_readable_from_the_working_directory_beside_plain_code() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: "import os, helper; print(open('data/in.csv').read().strip(), os.getcwd(), helper.X)"
                .into(),
            files: Some(vec![
                text("data/in.csv", "a,b\n1,2"),
                text("helper.py", "X = 7\n"),
                InputFile {
                    path: "blob.bin".into(),
                    content: "AAEC/w==".into(),
                    encoding: FileEncoding::Base64,
                },
            ]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.output, "a,b\n1,2 /work 7\n", "{run:?}");
}

#[tokio::test]
async fn output_files_come_back_as_text_or_base64_and_secrets_stay_masked() {
    let server = TestServer::start().await;
    let user = server.user().await;
    user.key
        .put_secret("API_TOKEN", "s3cr3t-value-42")
        .await
        .unwrap();
    let code = "import os\n\
                os.makedirs('out/deep', exist_ok=True)\n\
                open('out/report.txt', 'w').write('token=' + os.environ['API_TOKEN'])\n\
                open('out/deep/img.bin', 'wb').write(bytes([0x89, 0x50, 0x4e, 0x47, 0xff]))\n\
                open('skip.log', 'w').write('not asked for')\n";
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: code.into(),
            output_files: Some(vec!["out/**".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    let files = run.files.expect("files in the answer");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["out/deep/img.bin", "out/report.txt"], "{files:?}");
    assert_eq!(files[0].encoding, FileEncoding::Base64);
    assert_eq!(files[0].content, "iVBOR/8=");
    assert_eq!(
        (files[1].content.as_str(), files[1].size),
        ("token=***", 21)
    );
    assert_eq!(run.files_truncated, None);
}

#[tokio::test]
async fn a_symlink_or_fifo_planted_as_an_output_file_never_comes_back() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let code = "import os\n\
                open('ok.txt', 'w').write('fine')\n\
                os.symlink('/etc/passwd', 'passwd.txt')\n\
                os.mkfifo('pipe.txt')\n\
                os.symlink('/etc', 'etcdir')\n\
                open('later.txt', 'w').write('x'); os.remove('later.txt'); os.symlink('/etc/hostname', 'later.txt')\n";
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: code.into(),
            output_files: Some(vec!["*.txt".into(), "etcdir/*".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.exit_code, 0, "{run:?}");
    let files = run.files.expect("files");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["ok.txt"], "only the regular file: {files:?}");
}

#[tokio::test]
async fn the_output_file_bounds_cut_the_list_and_say_so() {
    let server = TestServer::start_with(|s| {
        s.files.max_output_files = 2;
    })
    .await;
    let user = server.user().await;
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: "for i in range(5): open(f'f{i}.txt', 'w').write(str(i))".into(),
            output_files: Some(vec!["*.txt".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.files.map(|f| f.len()), Some(2));
    assert_eq!(run.files_truncated, Some(true));
}

#[tokio::test]
async fn bad_paths_entries_and_patterns_are_validation_errors() {
    let server = TestServer::start().await;
    let user = server.user().await;
    for path in [
        "/etc/passwd",
        "../up.txt",
        "a/../../b",
        "nul\0.txt",
        "back\\slash",
    ] {
        let err = user
            .key
            .execute(&ExecuteRequest {
                code: "print(1)".into(),
                files: Some(vec![text(path, "x")]),
                ..Default::default()
            })
            .await;
        assert_api_error(err, 400, "validation_failed");
    }
    let entry_not_a_file = ExecuteRequest {
        files: Some(vec![text("a.py", "")]),
        entry: Some("b.py".into()),
        ..Default::default()
    };
    assert_api_error(
        user.key.execute(&entry_not_a_file).await,
        400,
        "validation_failed",
    );
    let both = ExecuteRequest {
        code: "print(1)".into(),
        files: Some(vec![text("a.py", "")]),
        entry: Some("a.py".into()),
        ..Default::default()
    };
    assert_api_error(user.key.execute(&both).await, 400, "validation_failed");
    let pattern = ExecuteRequest {
        code: "print(1)".into(),
        output_files: Some(vec!["../*".into()]),
        ..Default::default()
    };
    assert_api_error(user.key.execute(&pattern).await, 400, "validation_failed");
    let bad_base64 = ExecuteRequest {
        code: "print(1)".into(),
        files: Some(vec![InputFile {
            path: "x".into(),
            content: "%%%".into(),
            encoding: FileEncoding::Base64,
        }]),
        ..Default::default()
    };
    assert_api_error(
        user.key.execute(&bad_base64).await,
        400,
        "validation_failed",
    );
}

#[tokio::test]
async fn files_past_the_count_or_size_limits_are_refused_with_413() {
    let server = TestServer::start_with(|s| {
        s.files.max_input_files = 2;
        s.files.max_input_file_bytes = 1000;
        s.files.max_input_files_bytes = 1500;
    })
    .await;
    let user = server.user().await;
    let run = |files: Vec<InputFile>| ExecuteRequest {
        code: "print(1)".into(),
        files: Some(files),
        ..Default::default()
    };
    let many = vec![text("a", ""), text("b", ""), text("c", "")];
    let big = vec![text("a", &"x".repeat(1001))];
    let total = vec![text("a", &"x".repeat(800)), text("b", &"x".repeat(800))];
    for files in [many, big, total] {
        let err = user.key.execute(&run(files)).await;
        assert_api_error(err, 413, "payload_too_large");
    }
    let fits = user
        .key
        .execute(&run(vec![text("a", &"x".repeat(1000))]))
        .await
        .unwrap();
    assert_eq!(fits.exit_code, 0);
}

#[tokio::test]
async fn a_chart_drawn_by_the_real_matplotlib_comes_back_as_a_png() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let code = "import matplotlib\n\
                matplotlib.use('Agg')\n\
                import matplotlib.pyplot as plt\n\
                plt.plot([1, 2, 3], [2, 4, 1])\n\
                plt.savefig('chart.png')\n";
    let env = std::collections::BTreeMap::from([("MPLCONFIGDIR".to_string(), "/tmp".to_string())]);
    let run = user
        .key
        .execute(&ExecuteRequest {
            code: code.into(),
            packages: Some(vec!["matplotlib".into()]),
            env: Some(env),
            output_files: Some(vec!["*.png".into()]),
            timeout_ms: Some(60_000),
            memory_mb: Some(512),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.exit_code, 0, "{}", run.error);
    let files = run.files.expect("files");
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].encoding, FileEncoding::Base64);
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(&files[0].content)
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() as u64 == files[0].size && png.len() > 5_000,
        "{}",
        png.len()
    );
}
