mod common;
use bucket::{ChunkOutcome, Final, Location, Store, StoreOptions, UploadOptions};
use bytes::Bytes;
use common::*;
use std::time::Instant;

async fn up(store: &Store, d: &[u8], chunk: usize) -> f64 {
    let t = Instant::now();
    let s = store
        .begin_upload(
            "big.bin",
            &UploadOptions {
                overwrite: true,
                content_type: "x".into(),
            },
        )
        .await
        .unwrap();
    let mut off = 0;
    loop {
        let end = (off + chunk).min(d.len());
        let last = (end == d.len()).then(|| Final {
            total_size: d.len() as u64,
            crc32c: crc32c::crc32c(d),
        });
        match store
            .put_chunk(&s, off as u64, Bytes::copy_from_slice(&d[off..end]), last)
            .await
            .unwrap()
        {
            ChunkOutcome::Committed(n) => off = n as usize,
            ChunkOutcome::Finished(_) => break,
        }
    }
    t.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn measure() {
    let d = data(256 << 20, 9);
    let srv = FakeGcsServer::start().await;
    srv.create_bucket("m1").await;
    let st = Store::open(&Location::parse("gs://m1").unwrap(), &emulator_opts(&srv.host))
        .await
        .unwrap();
    for chunk in [8 << 20, 32 << 20] {
        let s = up(&st, &d, chunk).await;
        println!(
            "fake-gcs-server 256 MiB chunk {} MiB: {:.2}s {:.0} MiB/s",
            chunk >> 20,
            s,
            256.0 / s
        );
    }
    let t = Instant::now();
    let n = collect(st.read("big.bin").await.unwrap()).await.len();
    println!(
        "fake-gcs-server read {} MiB: {:.2}s",
        n >> 20,
        t.elapsed().as_secs_f64()
    );
    let f = testkit::gcs_fake::GcsFake::start();
    f.create_bucket("m2");
    let st = Store::open(&Location::parse("gs://m2").unwrap(), &emulator_opts(&f.host()))
        .await
        .unwrap();
    let s = up(&st, &d, 32 << 20).await;
    println!("gcs_fake 256 MiB chunk 32 MiB: {:.2}s {:.0} MiB/s", s, 256.0 / s);
    let dir = tempfile::tempdir().unwrap();
    let st = Store::open(
        &Location::parse(&format!("file://{}", dir.path().display())).unwrap(),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    let s = up(&st, &d, 32 << 20).await;
    println!("file 256 MiB chunk 32 MiB: {:.2}s {:.0} MiB/s", s, 256.0 / s);
    let t = Instant::now();
    st.stat("big.bin").await.unwrap();
    let a = t.elapsed();
    let t = Instant::now();
    st.stat("big.bin").await.unwrap();
    let b = t.elapsed();
    println!("file stat (cache written at finalize): {a:?}, again {b:?}");
}
