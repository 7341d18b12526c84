//! `fake-buildkitd CERTS N [ARCH] [VERSION]`: N fake BuildKit daemons on 127.0.0.1 (see
//! `fake_buildkitd.rs`), serving with the farm's daemon certificate in CERTS; prints one port
//! per line, then serves until killed. For `bench/run.sh`.

#[path = "fake_buildkitd.rs"]
mod fake;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fake-buildkitd CERTS N [ARCH] [VERSION]";
    let certs = std::path::PathBuf::from(args.get(1).expect(usage));
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).expect(usage);
    let arch = args.get(3).map_or("amd64", String::as_str).to_string();
    let version = args.get(4).map_or("v0.35.1", String::as_str).to_string();
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    for l in &listeners {
        println!("{}", l.local_addr().expect("bound").port());
    }
    let tls = fake::server_tls(&certs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for l in listeners {
            l.set_nonblocking(true).expect("nonblocking");
            let l = tokio::net::TcpListener::from_std(l).expect("a tokio listener");
            let canned = fake::Canned::healthy(&version, &arch, 1 << 30, 8, 6);
            set.spawn(fake::serve(l, tls.clone(), canned));
        }
        while set.join_next().await.is_some() {}
    });
}
