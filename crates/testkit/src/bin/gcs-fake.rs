//! Runs the strict GCS fake (testkit::gcs_fake) as a process for benchmarks:
//! `gcs-fake BUCKET...` prints `127.0.0.1:PORT` and serves until stdin closes.

use std::io::Read;

fn main() {
    let fake = src_snapshot_testkit_bin::start();
    for b in std::env::args().skip(1) {
        fake.create_bucket(&b);
    }
    println!("{}", fake.host());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

mod src_snapshot_testkit_bin {
    pub fn start() -> testkit::gcs_fake::GcsFake {
        testkit::gcs_fake::GcsFake::start()
    }
}
