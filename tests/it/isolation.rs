//! Tenant isolation: one organization's key never reads or changes another's log, however the
//! reference id is spelled.

use serde_json::json;

use crate::support::{Env, Event, SOURCES};

#[tokio::test]
async fn no_spelling_of_a_reference_id_crosses_organizations() {
    let env = Env::new().await;
    let acme = env.api_key("acme").await;
    let globex = env.api_key("globex").await;
    for reference in ["Ref-1", "café", "a/b?c=d&e", "%41"] {
        env.put_log(
            "acme",
            json!({"reference_id": reference, "id": "data_a", "output": "acme's"}),
        )
        .await;
    }
    env.put_log(
        "globex",
        json!({"reference_id": "globex-own", "id": "data_g"}),
    )
    .await;
    let acme_before: Vec<_> = {
        let mut v = Vec::new();
        for r in ["Ref-1", "café", "a/b?c=d&e", "%41"] {
            v.push(env.stored("acme", r).await.unwrap());
        }
        v
    };

    let spellings = [
        "Ref-1",
        "ref-1",
        "REF-1",
        "Ref-1 ",
        " Ref-1",
        "Ref-1/",
        "Ref\u{2010}1",
        "Ref-1\u{200b}",
        "café",
        "cafe\u{301}",
        "CAFÉ",
        "a/b?c=d&e",
        "a/b",
        "%41",
        "A",
        "%2541",
    ];
    let mut tried = 0;
    for source in SOURCES {
        for spelling in spellings {
            let event = Event::patch(source)
                .reference(spelling)
                .key(&globex)
                .json(json!({"output": "globex was here"}));
            let (status, body, _) = env.send(event.request()).await;
            assert!(
                status == 404 || status == 422,
                "globex on {spelling:?}: {status} {body}"
            );
            assert_ne!(body["output"], "acme's");
            tried += 1;
        }
        // Each organization still reaches its own, and only its own.
        let own = Event::patch(source)
            .reference("globex-own")
            .key(&globex)
            .request();
        assert_eq!(env.send(own).await.0, 200);
        let theirs = Event::patch(source)
            .reference("globex-own")
            .key(&acme)
            .request();
        assert_eq!(env.send(theirs).await.0, 404);
    }
    for (r, before) in ["Ref-1", "café", "a/b?c=d&e", "%41"]
        .into_iter()
        .zip(acme_before)
    {
        assert_eq!(
            env.stored("acme", r).await.unwrap(),
            before,
            "{r} unchanged"
        );
    }
    eprintln!("isolation: {tried} foreign attempts, 0 reached another organization's log");
}
