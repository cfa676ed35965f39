"""Exercise notebooks, generated from the solution notebooks (one source).

    python -m helpers exercises            write notebooks/exercises/NN-*.ipynb
    python -m helpers exercises --check    exit 1 if they differ from what the solutions give

The solution notebooks (notebooks/NN-*.ipynb) stay the only source. ``SPEC``
below says, per notebook, which lines become blanks (``____``, with a hint),
which cells are replaced (the solution's boto3 assertions become the
exercise's check cell, from helpers/exercise_checks.py) and which are left
out. Lines and cells are found by their content; when a solution changes so
that a match disappears (or becomes ambiguous), generation stops and names the
entry to update. Running it twice writes the same bytes.

The generated notebooks keep the solution's explanations, carry no outputs
(learners produce them) and start with a note saying where the solution is
and how to catch up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import workspace
from .errors import CourseError

SOLUTIONS = workspace.REPO / "notebooks"
EXERCISES = SOLUTIONS / "exercises"
BLANK = "____"


@dataclass(frozen=True)
class Blank:
    """One blank: the solution line containing ``find``; ``answer`` (default: the value after ``=``) becomes ____.

    An ``answer`` of the form ``name = value`` keeps the name and blanks the value.
    """

    find: str
    hint: str
    answer: str | None = None
    cell: str | None = None  # restrict the search to the cell containing this text


@dataclass(frozen=True)
class Exercise:
    notebook: str
    blanks: tuple[Blank, ...]
    check: str  # the exercise_checks function of the final check cell
    # cell containing text -> new source, or several ("CHECK": the check cell)
    replace: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()  # the cell (code or markdown) containing each of these is left out
    setup: str | None = None  # the Setup cell's new source (default: course.start -> exercise)
    # explanations that spell out a blank's answer: {text in the solution's markdown (exactly once): new text}
    markdown: dict[str, str] = field(default_factory=dict)


CHECK = "CHECK"  # a replacement source meaning "the check cell"

SPEC = (
    Exercise(
        "02-network",
        blanks=(
            Blank(
                "availability_zone       = data.aws_availability_zones.available.names[count.index]",
                "each subnet in its own zone: main.tf's data source lists the zones; pick one per subnet by its index",
            ),
            Blank(
                "map_public_ip_on_launch = true",
                "should instances launched here get a public address? (no NAT gateway in this course)",
            ),
            Blank(
                "gateway_id = aws_internet_gateway.main.id",
                "the default route leaves the VPC through the gateway declared above",
            ),
        ),
        check="network",
        replace={"vpc = ec2.describe_vpcs(VpcIds=[vpc_id])": CHECK},
    ),
    Exercise(
        "03-alb-security-group",
        blanks=(
            Blank("from_port         = 443", "browsers use HTTPS's standard port", cell="alb_https_in"),
            Blank("to_port           = 443", "a single port: the same as from_port", cell="alb_https_in"),
            Blank("from_port         = 80", "plain HTTP's standard port (only to be redirected)", cell="alb_http_in"),
            Blank("to_port           = 80", "a single port: the same as from_port", cell="alb_http_in"),
            Blank(
                "from_port         = var.host_port_range.from",
                "the first dynamic host port, from the variable of Step 1",
            ),
            Blank("to_port           = var.host_port_range.to", "the last dynamic host port, same variable"),
            Blank(
                "cidr_blocks       = [var.vpc_cidr]",
                "the targets are inside the VPC: its range, a variable of notebook 02",
            ),
            Blank(
                'group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]',
                "the EC2 call that describes security groups by ID",
                answer="describe_security_groups",
            ),
        ),
        check="alb_security_group",
        replace={
            "open_to_internet = checks.cidr_ingress(group)": (
                'group_id = course.resource("aws_security_group.alb")["id"]\n'
                'group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]\n'
                "\n"
                'print("in: ", *checks.cidr_ingress(group), sep="\\n    ")\n'
                "print(\"out:\", *[f\"{p['IpProtocol']} {p.get('FromPort')}-{p.get('ToPort')} to {[r['CidrIp'] for r in p['IpRanges']]}\"\n"
                '                for p in group["IpPermissionsEgress"]], sep="\\n    ")',
                CHECK,
            ),
        },
    ),
    Exercise(
        "04-alb-and-listeners",
        blanks=(
            Blank("internal           = false", "internet-facing or internal? Browsers on the internet must reach it"),
            Blank("security_groups    = [aws_security_group.alb.id]", "the group notebook 03 built for the ALB"),
            Blank('protocol    = "HTTPS"', "where should plain-HTTP visitors be sent?"),
            Blank(
                'ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"',
                "a predefined ELB policy that accepts TLS 1.3 and 1.2 only (see the bullet list above)",
            ),
            Blank(
                "certificate_arn   = local.certificate_arn",
                "the certificate race: the ARN that is only known once the certificate is issued (certificate.tf)",
            ),
        ),
        check="listeners",
        markdown={
            "The listener below uses `local.certificate_arn`, which for `acm-dns` is\n"
            "`aws_acm_certificate_validation.issued[0].certificate_arn`: the same ARN, but only known once validation\n"
            "is complete, so Terraform cannot create the listener earlier.": "The listener below must use an ARN that is the same, but only known once validation is complete\n"
            "(`certificate.tf` defines one for both ways), so Terraform cannot create the listener earlier."
        },
        replace={'lb = elbv2.describe_load_balancers(LoadBalancerArns=[course.resource("aws_lb.main")["arn"]])': CHECK},
    ),
    Exercise(
        "05-target-group",
        blanks=(
            Blank(
                'target_type = "instance"',
                "what does ECS register for a task in bridge mode: an IP, or an instance and a port?",
            ),
            Blank(
                'port                = "traffic-port"',
                "a special value meaning 'the port each target was registered with' (see the health check docs)",
            ),
            Blank('type             = "forward"', "the action that sends requests to a target group"),
            Blank("target_group_arn = aws_lb_target_group.web.arn", "the group declared above"),
            Blank(
                'rules = [r for r in elbv2.describe_rules(ListenerArn=https_listener)["Rules"] if not r["IsDefault"]]',
                "the ELBv2 call listing a listener's rules",
                answer="describe_rules",
            ),
        ),
        check="target_group",
        markdown={
            '- **`target_type = "instance"`**: targets': "- **The target type**: here, targets",
            '- **`health_check.port = "traffic-port"`**: check': "- **The health check's port**: check",
        },
        replace={
            'assert group["TargetType"] == "instance"': (
                'group = elbv2.describe_target_groups(TargetGroupArns=[course.resource("aws_lb_target_group.web")["arn"]])["TargetGroups"][0]\n'
                'https_listener = course.resource("aws_lb_listener.https")["arn"]\n'
                'rules = [r for r in elbv2.describe_rules(ListenerArn=https_listener)["Rules"] if not r["IsDefault"]]\n'
                "\n"
                "print(f\"{group['TargetGroupName']}: {group['Protocol']}, targets by {group['TargetType']}, health checks on {group['HealthCheckPort']}\")\n"
                'print("rules:", [(r["Priority"], [a["Type"] for a in r["Actions"]]) for r in rules])',
                CHECK,
            ),
        },
    ),
    Exercise(
        "06-ecs-on-ec2",
        blanks=(
            Blank(
                'echo "ECS_CLUSTER=${aws_ecs_cluster.main.name}" >> /etc/ecs/ecs.config',
                "the agent joins the cluster this setting names; which cluster should that be?",
                answer="${aws_ecs_cluster.main.name}",
            ),
            Blank(
                'network_mode             = "bridge"',
                "Docker's default network mode, where tasks share the instance's address",
            ),
            Blank(
                'portMappings     = [{ containerPort = 80, hostPort = 0, protocol = "tcp" }]',
                "which host port value lets Docker pick a free one, so several copies fit on one instance?",
                answer="hostPort = 0",
            ),
            Blank('container_name   = "nginx"', "the container the ALB talks to"),
            Blank("container_port   = 80", "its port inside the container"),
        ),
        check="ecs",
        markdown={
            "Docker's **bridge** network mode\n   with **`hostPort: 0`**.": "Docker's **bridge** network mode\n   on a host port **Docker picks**.",
            "- **nginx** publishes `containerPort: 80` with **`hostPort: 0`**. In bridge mode Docker then picks": "- **nginx** publishes `containerPort: 80` and lets Docker choose the host port: in bridge mode Docker picks",
        },
        replace={
            "cluster = ecs.describe_clusters(": CHECK,
            "if targets.is_emulator():": "exercise_checks.register_targets()",
        },
    ),
    Exercise(
        "07-lock-down-the-instances",
        blanks=(
            Blank(
                "from_port                = var.host_port_range.from",
                "where does Docker put the containers' port 80 on the host? Same variable as the ALB's egress",
                cell="Dynamic host ports, only from the load balancer",
            ),
            Blank(
                "to_port                  = var.host_port_range.to",
                "the end of that range",
                cell="Dynamic host ports, only from the load balancer",
            ),
            Blank(
                "source_security_group_id = aws_security_group.alb.id",
                "option 2: the source is a security group, not an address range",
                cell="Dynamic host ports, only from the load balancer",
            ),
        ),
        check="lockdown",
        setup=(
            "from IPython.display import Image\n\nfrom helpers import exercise_checks\n\n"
            'tf = exercise_checks.start("07-lock-down-the-instances")'
        ),
        replace={
            "option_1 = audit.run(instance_groups=[alb_group_id])": (
                "# extra code – what option 1 would expose: the ALB's group's rules from address ranges\n"
                "exercise_checks.option_1_exposure()"
            ),
            "blocked = [port for port in target_ports": "exercise_checks.lockdown()",
            "unreachable = [port for port in target_ports": CHECK,
        },
        # The audit's cells read the finished state; the exercise's check cells take their place.
        drop=(
            "port_80 = audit.run()",
            "audit.draw(port_80",
            "fixed = audit.run()",
            "The audit finds the same, and says what follows from it.",
            "And the audit, over the same live state, has nothing left to report:",
        ),
        markdown={
            "Ask the **reachability audit** (`helpers/audit.py`): it reads": "The solution asks the **reachability audit** (`helpers/audit.py`), which reads",
            "Two high findings say the internet would reach": "The internet would reach",
            "Allow TCP **32768-65535** (`var.host_port_range`, the same variable as the ALB's egress rule), with the\n"
            "ALB's group as the only source.": "Allow the **dynamic host port range** (the same variable as the ALB's egress rule in notebook 03), with\n"
            "the ALB's group as the only source.",
        },
    ),
    Exercise(
        "08-dns",
        blanks=(
            Blank('type    = "A"', "an alias record answers with addresses: the record type for IPv4 addresses"),
            Blank("name                   = aws_lb.main.dns_name", "the load balancer's own DNS name"),
            Blank(
                "zone_id                = aws_lb.main.zone_id",
                "not your zone: the load balancer's canonical hosted zone (an attribute of aws_lb)",
            ),
        ),
        check="dns",
        markdown={
            "Terraform copies it from `aws_lb.main.zone_id`;": "Terraform copies it from an attribute of `aws_lb.main`;"
        },
        replace={'lb = elbv2.describe_load_balancers(LoadBalancerArns=[course.resource("aws_lb.main")["arn"]])': CHECK},
    ),
)

LINK = re.compile(r"\]\((\d\d-[a-z0-9-]+\.ipynb)\)")


def _spec_error(exercise: Exercise, what: str) -> CourseError:
    return CourseError(
        f"Exercise {exercise.notebook}: {what}",
        f"The exercises are generated from notebooks/{exercise.notebook}.ipynb, and that notebook has changed "
        "since helpers/exercises.py's SPEC was written for it.",
        f"update the {exercise.notebook} entry of SPEC in helpers/exercises.py to match the solution, then run: "
        "python -m helpers exercises",
    )


def _find_one(cells, exercise: Exercise, text: str, kinds: tuple[str, ...] = ("code",)) -> int:
    found = [n for n, cell in enumerate(cells) if cell.cell_type in kinds and text in cell.source]
    if len(found) != 1:
        raise _spec_error(exercise, f"{len(found)} {' or '.join(kinds)} cells contain {text!r} (expected exactly one).")
    return found[0]


def _blank_line(line: str, blank: Blank, exercise: Exercise, filled: bool) -> str:
    if blank.answer is None:
        if " = " not in line:
            raise _spec_error(exercise, f"the line {line.strip()!r} has no ' = ' to blank after.")
        head, answer = line.split(" = ", 1)
        head += " = "
        rest = ""
    else:
        if line.count(blank.answer) != 1:
            raise _spec_error(exercise, f"{blank.answer!r} is not exactly once in {line.strip()!r}.")
        head, rest = line.split(blank.answer)
        answer = blank.answer
        if " = " in answer:  # "hostPort = 0": keep the name, blank the value
            name, answer = answer.split(" = ", 1)
            head += f"{name} = "
    value = answer if filled else BLANK
    return f"{head}{value}{rest}  # hint: {blank.hint}"


def _note(exercise: Exercise, title: str) -> str:
    number = exercise.notebook[:2]
    return (
        f"> **Exercise {number}.** The key lines of this notebook are blanks, `____`, each with a `# hint:`. Replace "
        "every `____` (and the hint if you like), run the cell, then the Terraform cell after it. A cell that still "
        "holds a blank writes and applies nothing; it says which line to fill in. The **check** cells read what is "
        "deployed and say *✓ done* or what is still wrong.\n>\n"
        f"> - **Solution:** [`notebooks/{exercise.notebook}.ipynb`](../{exercise.notebook}.ipynb), the notebook of "
        "the same number one folder up.\n"
        "> - **Catching up:** this exercise needs the notebooks before it applied to the same stack. If you skipped "
        "or could not finish one, open its *solution* notebook (one folder up) and run all its cells "
        "(*Run > Run All Cells*): it writes the solution's files into the stack and applies them. Then come back "
        "here; the Setup cell below says which notebook is missing, if any.\n"
        "> - Running the solution of *this* notebook overwrites your version of its files: do that to compare, "
        "not before you try."
    )


def build(exercise: Exercise, filled: bool = False):
    """The exercise notebook for one SPEC entry (``filled``: blanks replaced by the solution's answers)."""
    import nbformat

    source = SOLUTIONS / f"{exercise.notebook}.ipynb"
    solution = nbformat.read(source, as_version=4)
    cells = list(solution.cells)
    names = {e.notebook for e in SPEC}

    # Which solution cells go, and which are replaced (matched by content, once each).
    new_source: dict[int, str | tuple[str, ...] | None] = {}
    setup = _find_one(cells, exercise, "course.start(")
    for text in exercise.drop:
        new_source[_find_one(cells, exercise, text, ("code", "markdown"))] = None
    for text, replacement in exercise.replace.items():
        new_source[_find_one(cells, exercise, text)] = replacement
    if not any(CHECK == r or (isinstance(r, tuple) and CHECK in r) for r in exercise.replace.values()):
        raise _spec_error(exercise, "no cell is replaced by the check cell.")
    if exercise.setup is not None:
        new_source[setup] = exercise.setup
    else:
        code = cells[setup].source
        if "tf = course.start(" not in code or "from helpers import " not in code:
            raise _spec_error(exercise, "the Setup cell has no 'from helpers import' and 'tf = course.start(' lines.")
        code = re.sub(
            r"^from helpers import (.*)$",
            lambda m: f"from helpers import {m.group(1)}, exercise_checks",
            code,
            count=1,
            flags=re.M,
        )
        new_source[setup] = code.replace("tf = course.start(", "tf = exercise_checks.start(")

    for old, new in exercise.markdown.items():
        found = [c for c in cells if c.cell_type == "markdown" and old in c.source]
        if len(found) != 1 or found[0].source.count(old) != 1:
            raise _spec_error(exercise, f"the explanation {old!r} is not exactly once in the markdown.")
    out = []
    for n, cell in enumerate(cells):
        text = new_source.get(n, cell.source)
        if text is None:
            continue
        cell_id = cell.get("id") or f"cell{n}"
        if cell.cell_type == "markdown":
            for old, new in exercise.markdown.items():
                text = text.replace(old, new)
            text = LINK.sub(lambda m: f"]({m.group(1)})" if m.group(1)[:-6] in names else f"](../{m.group(1)})", text)
            text = text.replace("](../diagrams/", "](../../diagrams/")
            if n == 0:
                text = re.sub(r"^# (\d\d) · ", r"# Exercise \1 · ", text, count=1)
            out.append(nbformat.v4.new_markdown_cell(text, id=cell_id))
            if n == 0:
                out.append(nbformat.v4.new_markdown_cell(_note(exercise, text), id=f"{cell_id}-exercise"))
            continue
        for part, code in enumerate((text,) if isinstance(text, str) else text):
            part_id = cell_id if part == 0 else f"{cell_id}-{part}"
            if code == CHECK:
                out.append(
                    nbformat.v4.new_markdown_cell(
                        "**Check your work.** The cell below reads what is deployed and says *✓ done*, or names what "
                        "is still wrong and how to fix it. Fix, re-run the cells above, and check again.",
                        id=f"{part_id}-note",
                    )
                )
                code = f"exercise_checks.{exercise.check}()"
            out.append(nbformat.v4.new_code_cell(code.replace('"../diagrams/', '"../../diagrams/'), id=part_id))

    # Blanks, found by content among the code cells.
    for blank in exercise.blanks:
        scope = [c for c in out if c.cell_type == "code" and (blank.cell is None or blank.cell in c.source)]
        hits = [(c, i) for c in scope for i, line in enumerate(c.source.split("\n")) if blank.find in line]
        if len(hits) != 1:
            where = f" in the cell containing {blank.cell!r}" if blank.cell else ""
            raise _spec_error(exercise, f"{len(hits)} lines contain {blank.find!r}{where} (expected exactly one).")
        cell, index = hits[0]
        lines = cell.source.split("\n")
        lines[index] = _blank_line(lines[index], blank, exercise, filled)
        cell.source = "\n".join(lines)

    nb = nbformat.v4.new_notebook(cells=out)
    nb.nbformat_minor = solution.nbformat_minor
    nb.metadata = {"kernelspec": dict(solution.metadata["kernelspec"]), "language_info": {"name": "python"}}
    return nb


def render(exercise: Exercise, filled: bool = False) -> str:
    import nbformat

    return nbformat.writes(build(exercise, filled)) + "\n"


def path(exercise: Exercise) -> Path:
    return EXERCISES / f"{exercise.notebook}.ipynb"


def generate(check: bool = False) -> list[str]:
    """Write every exercise notebook; with ``check``, write nothing and return the stale ones."""
    stale = []
    expected = {path(e) for e in SPEC}
    for exercise in SPEC:
        text = render(exercise)
        target = path(exercise)
        if not target.exists() or target.read_text() != text:
            stale.append(workspace.relative(target))
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    extra = sorted(p for p in EXERCISES.glob("*.ipynb") if p not in expected) if EXERCISES.is_dir() else []
    stale += [f"{workspace.relative(p)} (no SPEC entry: delete it)" for p in extra]
    return stale
