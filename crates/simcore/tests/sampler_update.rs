//! The EMA update of the log-objective (Eqs. 7–8) against hand computations, and input checks.

use simcore::sampler::{InfeasiblePolicy, ScoreInit};
use simcore::{Outcome, Sampler, SamplerConfig, SimError};

fn zeros(layers: usize, ema: f64) -> SamplerConfig {
    SamplerConfig {
        ema,
        score_init: ScoreInit::Zeros,
        ..SamplerConfig::new(layers)
    }
}

fn assert_close(got: &[Vec<f64>], want: &[[f64; 4]]) {
    for (l, (g, w)) in got.iter().zip(want).enumerate() {
        for i in 0..4 {
            assert!(
                (g[i] - w[i]).abs() < 1e-15,
                "S[{l}][{i}] = {} expected {}",
                g[i],
                w[i]
            );
        }
    }
}

#[test]
fn ema_of_the_log_ratio_matches_a_hand_computation() {
    let mut sampler = Sampler::new(zeros(2, 0.25)).unwrap();
    // L_ref = 2.0, L(b) = 0.2: r = log10(10) = 1; γ r = 0.25 on (0, 3-bit) and (1, 2-bit).
    let r = (2.0_f64 / 0.2).log10();
    sampler.update(&[1, 0], Outcome::Feasible(r)).unwrap();
    assert_close(
        &sampler.scores(),
        &[[0.0, 0.25, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0]],
    );
    // r = −0.2: used entries get 0.75·S − 0.05, the rest 0.75·S.
    sampler.update(&[1, 1], Outcome::Feasible(-0.2)).unwrap();
    assert_close(
        &sampler.scores(),
        &[[0.0, 0.1375, 0.0, 0.0], [0.1875, -0.05, 0.0, 0.0]],
    );
    // π = softmax(S): row 1 = (e^0.1875, e^-0.05, 1, 1) / their sum.
    let z = 0.1875_f64.exp() + (-0.05_f64).exp() + 2.0;
    let pi = &sampler.marginals()[1];
    assert!((pi[0] - 0.1875_f64.exp() / z).abs() < 1e-15);
    assert!((pi[1] - (-0.05_f64).exp() / z).abs() < 1e-15);
    assert_eq!(sampler.updates(), 2);
}

#[test]
fn an_infeasible_sample_only_decays_under_the_mask() {
    let mut sampler = Sampler::new(zeros(1, 0.5)).unwrap();
    sampler.update(&[2], Outcome::Feasible(0.8)).unwrap();
    sampler.update(&[2], Outcome::Infeasible).unwrap();
    assert_close(&sampler.scores(), &[[0.0, 0.0, 0.2, 0.0]]);
}

#[test]
fn an_infeasible_sample_is_charged_the_penalty() {
    let config = SamplerConfig {
        infeasible: InfeasiblePolicy::Penalty { value: 1.0 },
        ..zeros(1, 0.5)
    };
    let mut sampler = Sampler::new(config).unwrap();
    sampler.update(&[2], Outcome::Feasible(0.8)).unwrap();
    sampler.update(&[3], Outcome::Infeasible).unwrap();
    assert_close(&sampler.scores(), &[[0.0, 0.0, 0.2, -0.5]]);
}

#[test]
fn uniform_initial_scores_lie_in_the_unit_interval() {
    let sampler = Sampler::new(SamplerConfig::new(53)).unwrap();
    let scores = sampler.scores().concat();
    assert!(scores.iter().all(|s| (0.0..1.0).contains(s)));
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    // 212 U(0,1) draws: the mean has standard deviation 0.02.
    assert!((mean - 0.5).abs() < 0.1, "{mean}");
}

fn field_of(err: SimError) -> String {
    match err {
        SimError::Sampler { location, .. } => location.field.unwrap(),
        other => panic!("expected a sampler error, got {other:?}"),
    }
}

#[test]
fn bad_configurations_are_typed_errors_naming_the_field() {
    let cases: Vec<(SamplerConfig, &str)> = vec![
        (
            SamplerConfig {
                bits: vec![],
                ..SamplerConfig::new(3)
            },
            "bits",
        ),
        (
            SamplerConfig {
                bits: vec![4, 4],
                ..SamplerConfig::new(3)
            },
            "bits",
        ),
        (
            SamplerConfig {
                temperature: 0.0,
                ..SamplerConfig::new(3)
            },
            "temperature",
        ),
        (
            SamplerConfig {
                temperature: f64::NAN,
                ..SamplerConfig::new(3)
            },
            "temperature",
        ),
        (
            SamplerConfig {
                ema: 0.0,
                ..SamplerConfig::new(3)
            },
            "ema",
        ),
        (
            SamplerConfig {
                ema: 1.5,
                ..SamplerConfig::new(3)
            },
            "ema",
        ),
        (
            SamplerConfig {
                ema: f64::NAN,
                ..SamplerConfig::new(3)
            },
            "ema",
        ),
        (SamplerConfig::new(0), "num_layers"),
        (SamplerConfig::new(usize::MAX), "num_layers"),
        (
            SamplerConfig {
                bits: (1..=65).collect(),
                ..SamplerConfig::new(3)
            },
            "bits",
        ),
        (
            SamplerConfig {
                initial: Some(vec![8, 8]),
                ..SamplerConfig::new(3)
            },
            "initial",
        ),
        (
            SamplerConfig {
                initial: Some(vec![8, 8, 5]),
                ..SamplerConfig::new(3)
            },
            "initial",
        ),
        (
            SamplerConfig {
                infeasible: InfeasiblePolicy::Penalty { value: -1.0 },
                ..SamplerConfig::new(3)
            },
            "infeasible.value",
        ),
        (
            SamplerConfig {
                coupling: Some(vec![vec![0.5, 0.5]]),
                ..SamplerConfig::new(2)
            },
            "coupling",
        ),
        (
            SamplerConfig {
                coupling: Some(vec![vec![0.5, 0.4], vec![0.0, 1.0]]),
                ..SamplerConfig::new(2)
            },
            "coupling",
        ),
        (
            SamplerConfig {
                coupling: Some(vec![vec![0.0, 1.0], vec![0.5, 0.5]]),
                ..SamplerConfig::new(2)
            },
            "coupling",
        ),
    ];
    for (config, field) in cases {
        let err = Sampler::new(config.clone()).expect_err(&format!("{config:?} must be rejected"));
        assert_eq!(field_of(err), field, "{config:?}");
    }
}

#[test]
fn bad_updates_are_typed_errors_and_leave_the_state_alone() {
    let mut sampler = Sampler::new(SamplerConfig::new(3)).unwrap();
    let before = sampler.state_json().unwrap();
    let cases: Vec<(Vec<usize>, Outcome, &str)> = vec![
        (vec![0, 1], Outcome::Feasible(0.1), "allocation"),
        (vec![0, 1, 4], Outcome::Feasible(0.1), "allocation"),
        (vec![0, 1, 2], Outcome::Feasible(f64::NAN), "reward"),
        (vec![0, 1, 2], Outcome::Feasible(f64::INFINITY), "reward"),
    ];
    for (allocation, outcome, field) in cases {
        assert_eq!(
            field_of(sampler.update(&allocation, outcome).unwrap_err()),
            field
        );
    }
    assert_eq!(sampler.state_json().unwrap(), before);
}

#[test]
fn corrupt_state_documents_are_typed_errors() {
    let good: serde_json::Value = serde_json::from_str(
        &Sampler::new(SamplerConfig::new(2))
            .unwrap()
            .state_json()
            .unwrap(),
    )
    .unwrap();
    let edit = |path: &str, value: serde_json::Value| {
        let mut doc = good.clone();
        doc[path] = value;
        doc.to_string()
    };
    let cases = vec![
        ("{not json".to_string(), "state"),
        (edit("format", serde_json::json!("other/9")), "format"),
        (
            edit("scores", serde_json::json!([[0.0, 0.0, 0.0, 0.0]])),
            "scores",
        ),
        (
            edit(
                "scores",
                serde_json::json!([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
            ),
            "scores",
        ),
        (edit("current", serde_json::json!([8, 6])), "current"),
        (edit("extra", serde_json::json!(1)), "state"),
    ];
    for (doc, field) in cases {
        assert_eq!(
            field_of(Sampler::from_state_json(&doc).unwrap_err()),
            field,
            "{doc}"
        );
    }
}

#[test]
fn set_scores_replaces_s_and_keeps_the_chain() {
    let mut sampler = Sampler::new(zeros(2, 0.25)).unwrap();
    sampler.propose();
    let (current, steps) = (sampler.current().to_vec(), sampler.steps());
    let fitted = vec![vec![0.5, -1.0, 0.0, 2.0], vec![0.0, 0.0, 3.0, 0.0]];
    sampler.set_scores(&fitted).unwrap();
    assert_eq!(sampler.scores(), fitted);
    assert_eq!(
        (sampler.current().to_vec(), sampler.steps()),
        (current, steps)
    );
    // π = softmax(S / T) at T = 1: row 1 = (1, 1, e^3, 1) / (3 + e^3).
    let pi = &sampler.marginals()[1];
    assert!((pi[2] - 3.0_f64.exp() / (3.0 + 3.0_f64.exp())).abs() < 1e-15);
}

#[test]
fn set_scores_rejects_a_bad_matrix_and_keeps_s() {
    let mut sampler = Sampler::new(zeros(2, 0.25)).unwrap();
    sampler.update(&[1, 0], Outcome::Feasible(1.0)).unwrap();
    let before = sampler.scores();
    for (bad, says) in [
        (vec![vec![0.0; 4]], "has 1 rows, expected 2"),
        (
            vec![vec![0.0; 4], vec![0.0; 3]],
            "row 1 has 3 entries, expected 4",
        ),
        (
            vec![vec![0.0; 4], vec![0.0, f64::NAN, 0.0, 0.0]],
            "row 1 has a non-finite entry",
        ),
    ] {
        let err = sampler.set_scores(&bad).unwrap_err();
        assert!(matches!(err, SimError::Sampler { .. }), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(sampler.scores(), before);
    }
}
