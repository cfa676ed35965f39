"""helpers/lab/lesson.py, the lab as the notebooks use it (``from helpers import lab``): its bounded waits on the
emulator's real answers, and the facade's names. The lab's requests themselves run in notebooks 05-09 (nbval)."""

from __future__ import annotations

import time

import pytest

from helpers import CourseError
from helpers.lab import lesson
from helpers.runtime import aws


def test_the_facade_gives_the_lessons_functions_even_beside_the_labs_own_modules():
    import helpers.lab.probe  # noqa: F401 - the module of the same name must not hide the notebooks' connect
    from helpers import lab

    assert lab.connect is lesson.connect and lab.curl is lesson.curl and lab.up is lesson.up
    assert set(lesson.__all__) <= set(dir(lab))
    with pytest.raises(AttributeError):
        lab.no_such_thing  # noqa: B018


@pytest.fixture
def empty_target_group(emulator_url):
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name="lesson-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    yield arn
    elbv2.delete_target_group(TargetGroupArn=arn)
    ec2.delete_vpc(VpcId=vpc)


def test_wait_for_health_says_what_the_targets_do_when_its_time_is_up(empty_target_group):
    began = time.monotonic()
    with pytest.raises(CourseError) as raised:
        lesson.wait_for_health(empty_target_group, lambda targets: bool(targets), within=0.6, what="registered")
    assert time.monotonic() - began < 5, "bounded by within"
    text = str(raised.value)
    assert "did not become registered within 1 s" in text and "no registered target" in text
    assert "lab status" in text, "and the command that shows what the lab runs"


def test_wait_for_health_returns_the_targets_once_the_condition_holds(empty_target_group):
    assert lesson.wait_for_health(empty_target_group, lambda targets: targets == [], within=1, what="empty") == []


def test_without_says_in_one_line_what_the_lab_would_show(capsys):
    lesson.without("this request gets 504")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "With the lab, this request gets 504." in out
