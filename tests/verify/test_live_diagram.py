"""helpers.verify.live_diagram draws the deployed state from a plain dict (no AWS needed)."""

from __future__ import annotations

import html

from helpers.verify.live_diagram import draw_live

LIVE = {
    "domain": "app.ecs-alb.example",
    "load_balancer": {"name": "ecs-alb", "scheme": "internet-facing", "subnets": 2},
    "listeners": [
        {"port": 443, "protocol": "HTTPS", "action": "forward"},
        {"port": 80, "protocol": "HTTP", "action": "redirect"},
    ],
    "alb_ingress": ["tcp port 443 from 0.0.0.0/0", "tcp port 80 from 0.0.0.0/0"],
    "target_group": {"name": "ecs-alb-tg", "protocol": "HTTP", "health_check": "/ on traffic-port"},
    "targets": [
        {"instance": "instance 1", "port": 32768, "health": "healthy"},
        {"instance": "instance 1", "port": 32769, "health": "unhealthy"},
    ],
    "instance_ingress": ["tcp ports 32768-65535 from the ALB security group"],
    "cluster": "ecs-alb",
    "service": "web",
    "tasks_desired": 2,
}


def test_draw_live_writes_png_and_svg_with_the_target_ports(tmp_path):
    png = draw_live(LIVE, tmp_path)
    assert png == tmp_path / "live_architecture.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
    svg = html.unescape(png.with_suffix(".svg").read_text())  # dot writes "-" as &#45;
    for text in (":32768", ":32769", "app.ecs-alb.example", "ecs-alb-tg", "healthy", "unhealthy"):
        assert text in svg


def test_draw_live_without_domain_or_targets(tmp_path):
    live = {
        **LIVE,
        "domain": None,
        "targets": [],
        "instance_ingress": [],
        "listeners": [{"port": 443, "protocol": "HTTPS", "action": "fixed-response"}],
    }
    png = draw_live(live, tmp_path)
    assert png.stat().st_size > 20_000
    svg = html.unescape(png.with_suffix(".svg").read_text())  # dot writes "-" as &#45;
    assert "no registered targets" in svg
    assert "ecs-alb.example" not in svg
