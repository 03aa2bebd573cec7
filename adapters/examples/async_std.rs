//! The quickstart on async-std:
//! `cargo run -p nats-client --features async-std --example async_std -- <url>`.

use futures_lite::StreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    async_std::task::block_on(async {
        let client = nats_client::async_std::connect(&url).await?;
        let mut sub = client.subscribe("quickstart").await?;
        client
            .publish("quickstart", ("hello from async-std").into())
            .await?;
        let msg = sub.next().await.ok_or("subscription ended")?;
        println!("{}: {}", msg.subject, String::from_utf8_lossy(&msg.payload));
        Ok(())
    })
}
