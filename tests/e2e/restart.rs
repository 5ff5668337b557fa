//! A server restarted mid-render resumes its jobs.

use crate::common::*;

on_both_stores!(jobs_survive_a_restart_and_finish,);

async fn jobs_survive_a_restart_and_finish(store: Store) {
    // One provider for both lives of the server, as in real use.
    let key = "sk-restart";
    let sim = sora_sim::Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        sora_sim::SimConfig {
            render_time: std::time::Duration::from_secs(2),
            api_key: Some(key.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path(), store);
    config.provider = vidgen::stack::ProviderChoice::OpenAi {
        base_url: sim.base_url(),
        api_key: vidgen_shared::config::Secret::new(key),
    };
    let h = Harness::with_config(dir, config.clone()).await;
    let job = create(&h, ALICE, &create_body("Across a restart.")).await;
    let id = job["id"].as_str().unwrap().to_string();
    let h = restart_mid_render(h, &id, config).await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        sim.stats().creates,
        1,
        "the resumed workflow reused the provider's video"
    );
}
