"""Workshops: learner names, the room's shared emulator, the facilitator, start anywhere.

The fast tests check the settings and their messages. The room test runs 8
learners applying at the same time against one shared emulator, in the
background beside the notebooks (tests/support/room_support.py, started by
tests/plugin/session.py); run alone (``pytest tests/workshop/test_room.py``) it runs in the
foreground.
"""

from __future__ import annotations

import json

import pytest

from helpers import course
from helpers.errors import CourseError
from helpers.runtime import emulator, learner
from helpers.tf import toolchain
from helpers.tf.state import stack_dir
from helpers.workshop import facilitator
from helpers.workshop import room as workshop_room
from tests.support import room_support

# ---------------------------------------------------------------------------
# Learner names and room settings (no Terraform run)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Ana", "ana smith", "1ana", "thirteenchars", "", "ana-b"])
def test_a_bad_learner_name_says_what_is_allowed(other_workspace, name):
    with pytest.raises(CourseError) as error:
        learner.use(name)
    assert "1 to 12 lower-case letters or digits" in error.value.why
    assert learner.current() == "learner", "nothing was saved"


def test_the_learner_name_reaches_terraform_and_the_environment_wins(other_workspace, monkeypatch):
    monkeypatch.delenv("COURSE_LEARNER", raising=False)
    monkeypatch.setattr(toolchain, "cli_config", lambda tag=None: other_workspace / "terraformrc")  # no provider unpack
    assert toolchain.environment()["TF_VAR_learner"] == "learner"
    learner.use("ana")
    assert toolchain.environment()["TF_VAR_learner"] == "ana"
    monkeypatch.setenv("COURSE_LEARNER", "team3")
    assert learner.current() == "team3"
    monkeypatch.setenv("COURSE_LEARNER", "Team 3")
    with pytest.raises(CourseError, match="not a valid learner name"):
        toolchain.environment()


def test_a_stack_applied_as_another_learner_is_not_taken_over(other_workspace, monkeypatch):
    monkeypatch.setattr(emulator, "start", lambda quiet=False: "http://127.0.0.1:1")
    state = {
        "version": 4,
        "resources": [
            {
                "mode": "managed",
                "type": "aws_vpc",
                "name": "main",
                "instances": [{"attributes": {"id": "vpc-1", "tags_all": {"course": "ecs-alb", "learner": "ana"}}}],
            }
        ],
    }
    (stack_dir(course.STACK) / "terraform.tfstate").write_text(json.dumps(state))
    monkeypatch.setenv("COURSE_LEARNER", "ben")
    with pytest.raises(CourseError) as error:
        course.start("03-alb-security-group")
    assert "applied as learner 'ana'" in error.value.what and "python -m helpers learner ana" in error.value.fix
    monkeypatch.setenv("COURSE_LEARNER", "ana")
    assert course.learner() == "ana"


def test_out_of_order_message_offers_the_catch_up_call(other_workspace, monkeypatch):
    monkeypatch.setattr(emulator, "start", lambda quiet=False: "http://127.0.0.1:1")
    with pytest.raises(CourseError) as error:
        course.start("05-target-group")
    assert 'course.catch_up("05-target-group")' in error.value.fix


def test_room_settings_are_checked_and_reset_refuses_in_a_room(other_workspace, monkeypatch):
    with pytest.raises(CourseError, match="not an emulator address"):
        workshop_room.use("ftp://room")
    monkeypatch.setenv("COURSE_EMULATOR_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(CourseError) as error:
        emulator.ensure()
    assert "does not answer" in error.value.what and "emulator use local" in error.value.fix
    with pytest.raises(CourseError) as error:
        emulator.reset()
    assert "every learner's resources" in error.value.why and "course.reset()" in error.value.fix
    assert emulator.status()["running"] is False, "nothing of its own was started"


def test_the_served_emulator_refuses_a_plain_reset_and_learners_use_it(other_workspace, tmp_path, monkeypatch):
    url = workshop_room.serve(host="127.0.0.1")
    try:
        assert emulator.status()["serving"] is True
        with pytest.raises(CourseError, match="served to a room"):
            emulator.reset()
        ((_, given),) = workshop_room.issue(["ana"])
        monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "learner"))
        assert "now uses the room's emulator" in workshop_room.use(
            url, key=given["access_key"], secret=given["secret_key"]
        )
        assert emulator.ensure() == url and emulator.status()["room"] == url
        assert not (tmp_path / "learner" / "emulator.json").exists(), "a learner starts no emulator of their own"
        workshop_room.use("local")
        assert emulator.room_url() is None
    finally:
        monkeypatch.setenv("COURSE_WORKSPACE", str(other_workspace))
        emulator.stop()


def test_the_facilitator_table_shows_each_learners_steps_and_next_notebook():
    text = facilitator.table({"ana": ["02", "03"], "bo": ["02", "03", "04", "05", "06", "07", "08"]})
    ana, bo = (line for line in text.splitlines() if line.startswith(("ana", "bo ")))
    assert ana.split() == ["ana", "✓", "✓", "·", "·", "·", "·", "·", "04-alb-and-listeners"]
    assert bo.split()[-1] == "09-verify-everything" and "1 finished the build" in text
    assert "No learner" in facilitator.table({})


# ---------------------------------------------------------------------------
# The room: 8 learners at once on one emulator (background, ~1-2 min)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def room(request):
    run = getattr(request.config, "course_room", None) or room_support.Room.start()
    return run.wait()


def _own_names(result, phase, name):
    return result[phase]["inventory"][name]


@pytest.mark.after_course
def test_after_course_eight_learners_apply_at_once_on_one_emulator_without_collisions(room):
    assert room["url_is_loopback"]
    for name, runs in room["apply"].items():
        assert [r["code"] for r in runs] == [0, 0], f"{name}: {runs}"
    inventories = room["after_apply"]["inventory"]
    for name in room["learners"]:
        mine = inventories[name]
        for expected in (
            f"IAM role: ecs-alb-{name}-instance",
            f"ECS cluster: ecs-alb-{name}",
            f"log group: /ecs/ecs-alb-{name}-web",
            f"launch template: ecs-alb-{name}-ecs",
            f"ECS task definition: ecs-alb-{name}-web:1",
        ):
            assert expected in mine, f"{name} is missing {expected}: {mine}"
        others = {line for other in room["learners"] if other != name for line in inventories[other]}
        assert not set(mine) & others, f"{name} shares resources with another learner"
    vpcs = [line for name in room["learners"] for line in inventories[name] if line.startswith("VPC: ")]
    assert len(vpcs) == len(set(vpcs)) == 8, "one VPC per learner"
    assert all(len(room["states"][name]) >= len(room_support.BASE) for name in room["learners"])


@pytest.mark.after_course
def test_after_course_the_facilitator_sees_every_learner_at_their_own_step(room):
    expected = {name: room_support.expected_steps(i) for i, name in enumerate(room["learners"])}
    assert room["after_apply"]["progress"] == expected, room["after_apply"]["table"]
    assert room["after_apply"]["table"].splitlines()[1].split() == [
        "ana",
        "✓",
        "·",
        "·",
        "·",
        "·",
        "·",
        "·",
        "03-alb-security-group",
    ]
    half = {name: steps for name, steps in expected.items() if name not in room["learners"][::2]}
    assert room["after_half"]["progress"] == {**half, room["late"]: ["02", "03"]}


@pytest.mark.after_course
def test_after_course_each_learners_teardown_removes_only_their_own_resources(room):
    first_half = room["learners"][::2]
    for name, runs in {**room["destroy_half"], **room["destroy_rest"]}.items():
        assert [r["code"] for r in runs] == [0], f"{name}: {runs}"
    for name in room["learners"]:
        before = _own_names(room, "after_apply", name)
        if name in first_half:
            assert _own_names(room, "after_half", name) == [], (
                f"{name} destroyed, yet: {_own_names(room, 'after_half', name)}"
            )
        else:
            assert _own_names(room, "after_half", name) == before, f"{name} lost resources to another's teardown"
            assert _own_names(room, "after_late_reset", name) == before, f"{name} lost resources to a reset"
        assert _own_names(room, "after_all", name) == []
    assert room["after_all"]["progress"] == {}


@pytest.mark.after_course
def test_after_course_a_late_learner_catches_up_to_notebook_04_and_resets_to_nothing(room):
    late = room["late"]
    assert room["late_applied"] == ["02-network", "03-alb-security-group"]
    assert room["late_files"] == [
        "alb_security_group.tf",
        "main.tf",
        "network.tf",
        "providers.tf",
        "variables.tf",
        "versions.tf",
    ]
    assert room["after_half"]["inventory"][late], "the catch-up created the late learner's resources"
    assert room["late_after_reset"] == {"applied": [], "state": {}, "files": []}
    assert room["after_late_reset"]["inventory"][late] == []


@pytest.mark.after_course
def test_after_course_learners_sharing_one_hosted_zone_get_domain_names_of_their_own(room):
    """On AWS a class shares one zone (hosted_zone_id): without domain_name each learner gets <learner>.<zone>."""
    assert room["shared_zone_domains"] == {"ana": ["ana.class.example.com"], "ben": ["ben.class.example.com"]}


@pytest.mark.after_course
def test_after_course_reset_on_an_own_emulator_also_empties_the_emulator(room):
    """Out of a room, course.reset() is notebook 10 in one call: destroy, files aside, emulator reset."""
    assert "Reset: stack 'course' is empty and nothing tagged learner=solo is left." in room["solo_reset"]["said"]
    assert room["solo_reset"]["vpcs_left"] == [], "the emulator was reset: only its default VPC is left"


@pytest.mark.after_course
def test_after_course_the_facilitator_finds_a_record_in_a_zone_the_class_shares(room):
    """On AWS the class zone is not the course's (no tags): <learner>.<zone> still counts as step 08."""
    first = room["learners"][0]
    assert room["shared_zone_progress"][first] == ["02", "08"]
    assert room["shared_zone_progress"][room["learners"][1]] == ["02"], "only the learner whose name the record has"


# ---------------------------------------------------------------------------
# The line an instructor hands each learner
# ---------------------------------------------------------------------------


def _parsed(line: str, parser):
    """``line`` read as the learner's shell and the course's own command line (``parser``) read it."""
    import shlex

    words = shlex.split(line.split(": ", 1)[1])
    assert words[:3] == ["python", "-m", "helpers"]
    return parser.parse_args(words[3:])


def test_every_printed_credentials_line_works_even_when_the_secret_begins_with_a_dash(monkeypatch, capsys):
    """About one secret in 64 begins with '-'; ``--secret S`` then read S as an option (issue 24's bug)."""
    from helpers import cli

    url = "http://127.0.0.1:50901"
    made = [workshop_room._new_credential(f"l{i}", f"{i:012d}", 1) for i in range(4000)]
    made += [dict(made[0], secret_key=s) for s in ("-T5k0kvff", "--secret", "-", "a b'c")]
    assert sum(c["secret_key"].startswith("-") for c in made) >= 3, "the sample has secrets beginning with '-'"
    monkeypatch.setattr(workshop_room, "room_address", lambda: url)
    monkeypatch.setattr(workshop_room, "issue", lambda names, hours: list(zip(names, made, strict=True)))
    assert cli.main(["emulator", "credentials", *[f"l{i}" for i in range(len(made))]]) in (0, None)
    lines = [line for line in capsys.readouterr().out.splitlines() if ": python -m helpers" in line]
    assert len(lines) == len(made), "one line per learner"
    parser = cli.build_parser()  # built once: 4,000 builds were most of this test's time
    for line, given in zip(lines, made, strict=True):
        args = _parsed(line, parser)
        assert (args.action, args.url, args.key, args.secret) == ("use", url, given["access_key"], given["secret_key"])
