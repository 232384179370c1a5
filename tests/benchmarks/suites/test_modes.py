"""The modes suite's verdicts: when a part counts as met (the issue's done-when, read off measured arms)."""

from edgedistill.benchmarks.suites.modes import (
    FP32,
    NOISE,
    Arm,
    Part,
    beats_reference,
    int8_goal,
    measure,
    reaches,
)


def arm(name: str, *accuracies: float) -> Arm:
    runs = dict(enumerate(accuracies))
    return Arm(name, lambda seed: (runs[seed], 10.0 + seed))


def test_a_gain_counts_only_above_twice_the_larger_std():
    part = Part("p", reference=arm("ref", 96.0, 96.5, 97.0), mode=arm("mode", 98.0, 98.1, 98.2))
    result = measure(part, [0, 1, 2])
    assert result["met"] and result["spread"] == 1.0 and abs(result["gain"] - 1.6) < 1e-9
    assert result["reference"]["seconds"] == [10.0, 11.0, 12.0]
    close = Part("p", reference=arm("ref", 96.0, 96.5, 97.0), mode=arm("mode", 96.9, 97.0, 97.1))
    assert not measure(close, [0, 1, 2])["met"]


def test_a_level_is_reached_only_by_every_seed():
    goal = reaches(95.0)
    ref = {"test_accuracy": [98.0], "mean": 98.0, "std": 0.0}
    assert goal(ref, {"test_accuracy": [95.0, 96.1, 95.4]}, {})[0]
    met, why = goal(ref, {"test_accuracy": [94.9, 97.0, 97.0]}, {})
    assert not met and "94.90" in why


def summary(mean: float) -> dict:
    return {"mean": mean, "std": 0.1, "test_accuracy": [mean]}


def test_int8_calibration_needs_a_costly_ptq_a_close_synthetic_set_and_a_worse_control():
    def verdict(fp32: float, real: float, synthetic: float, noise: float) -> bool:
        return int8_goal(summary(real), summary(synthetic), {FP32: summary(fp32), NOISE: summary(noise)})[0]

    assert verdict(fp32=80.0, real=78.5, synthetic=78.0, noise=60.0)
    assert not verdict(fp32=80.0, real=79.5, synthetic=79.4, noise=60.0)  # PTQ costs too little to show anything
    assert not verdict(fp32=80.0, real=78.5, synthetic=77.0, noise=60.0)  # synthesized calibration too far off
    assert not verdict(fp32=80.0, real=78.5, synthetic=78.0, noise=78.2)  # no better than noise


def test_controls_are_measured_and_kept():
    part = Part(
        "p",
        reference=arm("real", 78.5, 78.5),
        mode=arm("synthetic", 78.0, 78.2),
        goal=int8_goal,
        controls=(arm(FP32, 80.0, 80.0), arm(NOISE, 50.0, 52.0)),
    )
    result = measure(part, [0, 1])
    assert result["met"] and [c["name"] for c in result["controls"]] == [FP32, NOISE]
    assert beats_reference(result["reference"], result["mode"], {})[0] is False
