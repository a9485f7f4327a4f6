//! Export to PyTorch's layout: the exported tensors, run forward as `torch.nn.Linear` would
//! (`x Wᵀ + b` with `W: [out, in]`), give the network's own outputs.

use eirl_models::{
    ARCHITECTURE_KEY, Activation, Parameterized, PolicyHead, PolicyNetwork, PolicyNetworkConfig,
    QNetwork, QNetworkConfig, TorchExport, TorchHead, TorchLayer,
};
use eirl_testkit::{Tol, assert_allclose};
use rand::{Rng, SeedableRng};

/// `n` observations of width `dim` in [-2, 2].
fn observations(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.gen_range(-2.0..2.0)).collect()
}

fn names(e: &TorchExport) -> Vec<&str> {
    e.tensors().map(|(n, _, _)| n).collect()
}

#[test]
fn plain_q_network_exports_as_a_sequential() {
    let cfg = QNetworkConfig {
        hidden: vec![16, 8],
        activation: Activation::Relu,
        dueling: false,
    };
    let q = QNetwork::new(5, 3, &cfg, 11).expect("network");
    let e = TorchExport::from_q_network(&q);
    assert_eq!(
        names(&e),
        [
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.2.bias",
            "net.4.weight",
            "net.4.bias"
        ]
    );
    let a = e.architecture();
    assert_eq!(
        a.net,
        [
            TorchLayer::Linear {
                in_features: 5,
                out_features: 16
            },
            TorchLayer::ReLU,
            TorchLayer::Linear {
                in_features: 16,
                out_features: 8
            },
            TorchLayer::ReLU,
            TorchLayer::Linear {
                in_features: 8,
                out_features: 3
            },
        ]
    );
    assert_eq!(a.head, TorchHead::QValues { num_actions: 3 });
    // The first weight is eirl's [in, out] transposed: W_torch[o][i] = W_eirl[i][o].
    let (shape, w) = e.get("net.0.weight").expect("weight");
    assert_eq!(shape, [16, 5]);
    let eirl_w = &q.export_params()[0];
    assert_eq!(eirl_w.0, [5, 16]);
    for i in 0..5 {
        for o in 0..16 {
            assert_eq!(w[o * 5 + i].to_bits(), eirl_w.1[i * 16 + o].to_bits());
        }
    }
    let obs = observations(32, 5, 1);
    assert_allclose(
        &e.forward(&obs, 32).expect("forward"),
        &q.q_values(&obs, 32).expect("q"),
        Tol::F32,
        "Q-values",
    );
}

#[test]
fn dueling_q_network_exports_torso_value_and_advantage() {
    let cfg = QNetworkConfig {
        hidden: vec![12, 6],
        activation: Activation::Tanh,
        dueling: true,
    };
    let q = QNetwork::new(4, 5, &cfg, 3).expect("network");
    let e = TorchExport::from_q_network(&q);
    assert_eq!(
        names(&e),
        [
            "net.0.weight",
            "net.0.bias",
            "net.2.weight",
            "net.2.bias",
            "value.weight",
            "value.bias",
            "advantage.weight",
            "advantage.bias"
        ]
    );
    assert_eq!(e.architecture().net.last(), Some(&TorchLayer::Tanh));
    assert_eq!(
        e.get("advantage.weight").map(|(s, _)| s.to_vec()),
        Some(vec![5, 6])
    );
    let obs = observations(17, 4, 2);
    assert_allclose(
        &e.forward(&obs, 17).expect("forward"),
        &q.q_values(&obs, 17).expect("q"),
        Tol::F32,
        "dueling Q-values",
    );
}

#[test]
fn policy_networks_export_logits_and_means() {
    let cfg = PolicyNetworkConfig {
        hidden: vec![10],
        activation: Activation::Tanh,
        output_scale: 1.0,
    };
    for head in [
        PolicyHead::Categorical { num_actions: 3 },
        PolicyHead::Gaussian {
            act_dim: 2,
            init_log_std: -0.5,
        },
    ] {
        let p = PolicyNetwork::new(6, head, &cfg, 5).expect("policy");
        let e = TorchExport::from_policy_network(&p);
        let obs = observations(9, 6, 3);
        assert_allclose(
            &e.forward(&obs, 9).expect("forward"),
            &p.outputs(&obs, 9).expect("outputs"),
            Tol::F32,
            "policy outputs",
        );
        if let PolicyHead::Gaussian { .. } = head {
            assert_eq!(
                e.get("log_std").map(|(s, v)| (s.to_vec(), v.to_vec())),
                Some((vec![2], vec![-0.5, -0.5]))
            );
        } else {
            assert!(e.get("log_std").is_none());
        }
    }
}

#[test]
fn exported_file_reads_back_in_module_order_with_its_architecture() {
    let cfg = QNetworkConfig {
        hidden: vec![8],
        activation: Activation::Relu,
        dueling: false,
    };
    let e = TorchExport::from_q_network(&QNetwork::new(3, 2, &cfg, 0).expect("network"));
    let meta = std::collections::BTreeMap::from([("source".to_string(), "test".to_string())]);
    let bytes = e.to_bytes(&meta).expect("bytes");
    assert_eq!(bytes, e.to_bytes(&meta).expect("again"), "deterministic");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors reads it");
    for (name, shape, values) in e.tensors() {
        let t = st.tensor(name).expect(name);
        assert_eq!(t.shape(), shape);
        let got: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(got, values);
    }
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    let m = header.metadata().as_ref().expect("metadata");
    assert_eq!(m.get("format").map(String::as_str), Some("pt"));
    assert_eq!(m.get("source").map(String::as_str), Some("test"));
    let arch = m.get(ARCHITECTURE_KEY).expect("architecture");
    assert!(
        arch.contains(r#"{"type":"Linear","in_features":3,"out_features":8}"#)
            && arch.contains(r#""weight_layout":"[out, in]""#),
        "{arch}"
    );
    // Tensors sit in module order (a state_dict's), not sorted by name.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let at = |k: &str| text.find(&format!("\"{k}\":{{")).expect(k);
    assert!(at("net.0.weight") < at("net.0.bias") && at("net.0.bias") < at("net.2.weight"));
}
