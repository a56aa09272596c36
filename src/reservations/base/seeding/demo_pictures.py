"""The demo's pictures, drawn here with Pillow when the demo is loaded: a landscape for each
activity on the programme (a sky, a sun or a moon, hills, and what the visit is about in a few
shapes), and a portrait of two farms. No file, nothing from elsewhere: the same drawings every
time, ours to ship. They go through the same upload rule as staff's photos (checked, resized,
encoded, audited), with alt texts in the four languages."""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw
from sqlalchemy import select

from reservations.base.infra.db import Database
from reservations.base.models import BOOKABLE_STATUSES, Activity, Provider, Slot
from reservations.base.rules import pictures

ACTOR = "demo"
WIDTH, HEIGHT = 1200, 800
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    #: Lower-case words of an activity's French name (or a farm's) that call for this scene.
    words: tuple[str, ...]
    sky: tuple[Colour, Colour]
    hills: tuple[Colour, Colour, Colour]
    #: "sun", "moon"
    light: str
    #: What stands in the field: "goats", "sheep", "donkeys", "hives", "trees", "apples",
    #: "river", "stars", "house"
    motif: str
    alt: dict[str, str]


def _alt(fr: str, en: str, de: str, nl: str) -> dict[str, str]:
    return {"fr": fr, "en": en, "de": de, "nl": nl}


SCENES = (
    Scene(
        ("chèvr", "pélardon"),
        ((250, 205, 150), (170, 210, 235)),
        ((120, 160, 80), (90, 135, 60), (60, 105, 45)),
        "sun",
        "goats",
        _alt(
            "Dessin : des chèvres dans une prairie en pente au lever du soleil",
            "Drawing: goats in a sloping meadow at sunrise",
            "Zeichnung: Ziegen auf einer Hangwiese bei Sonnenaufgang",
            "Tekening: geiten in een glooiende wei bij zonsopgang",
        ),
    ),
    Scene(
        ("ruche", "miel", "abeille"),
        ((255, 215, 120), (250, 170, 90)),
        ((170, 110, 160), (140, 85, 135), (95, 60, 95)),
        "sun",
        "hives",
        _alt(
            "Dessin : des ruches sur une colline de bruyère sous un ciel doré",
            "Drawing: beehives on a heather hill under a golden sky",
            "Zeichnung: Bienenstöcke auf einem Heidehügel unter goldenem Himmel",
            "Tekening: bijenkasten op een heuvel vol heide onder een gouden lucht",
        ),
    ),
    Scene(
        ("brebis", "transhumance", "berger", "mouton"),
        ((150, 195, 240), (215, 235, 250)),
        ((160, 175, 110), (125, 145, 85), (95, 115, 70)),
        "sun",
        "sheep",
        _alt(
            "Dessin : un troupeau de brebis sur le plateau du Mont Lozère",
            "Drawing: a flock of sheep on the Mont Lozère plateau",
            "Zeichnung: eine Schafherde auf der Hochebene des Mont Lozère",
            "Tekening: een kudde schapen op de hoogvlakte van de Mont Lozère",
        ),
    ),
    Scene(
        ("âne",),
        ((255, 225, 185), (180, 215, 230)),
        ((175, 165, 95), (135, 140, 75), (100, 110, 60)),
        "sun",
        "donkeys",
        _alt(
            "Dessin : des ânes sur un chemin de la vallée, collines au loin",
            "Drawing: donkeys on a valley path, hills in the distance",
            "Zeichnung: Esel auf einem Talweg, Hügel in der Ferne",
            "Tekening: ezels op een pad in het dal, heuvels in de verte",
        ),
    ),
    Scene(
        ("châtaign", "clède"),
        ((250, 190, 120), (240, 225, 190)),
        ((205, 120, 50), (165, 90, 40), (115, 65, 35)),
        "sun",
        "trees",
        _alt(
            "Dessin : des châtaigniers aux couleurs d'automne sur les pentes",
            "Drawing: chestnut trees in autumn colours on the slopes",
            "Zeichnung: Kastanienbäume in Herbstfarben an den Hängen",
            "Tekening: kastanjebomen in herfstkleuren op de hellingen",
        ),
    ),
    Scene(
        ("pomme", "verger"),
        ((190, 225, 245), (240, 245, 220)),
        ((140, 185, 90), (105, 155, 70), (75, 120, 55)),
        "sun",
        "apples",
        _alt(
            "Dessin : un verger de pommiers chargés de fruits rouges",
            "Drawing: an orchard of apple trees laden with red fruit",
            "Zeichnung: ein Obstgarten mit Apfelbäumen voller roter Früchte",
            "Tekening: een boomgaard met appelbomen vol rode vruchten",
        ),
    ),
    Scene(
        ("tarn", "contée", "conte"),
        ((200, 190, 235), (250, 215, 200)),
        ((110, 150, 105), (80, 125, 90), (55, 95, 75)),
        "sun",
        "river",
        _alt(
            "Dessin : une rivière qui serpente entre des collines boisées",
            "Drawing: a river winding between wooded hills",
            "Zeichnung: ein Fluss, der sich zwischen bewaldeten Hügeln schlängelt",
            "Tekening: een rivier die tussen beboste heuvels kronkelt",
        ),
    ),
    Scene(
        ("astronomie", "étoil", "ciel"),
        ((15, 20, 55), (55, 50, 110)),
        ((40, 45, 80), (30, 35, 65), (20, 25, 45)),
        "moon",
        "stars",
        _alt(
            "Dessin : un ciel étoilé et la lune au-dessus des crêtes du Mont Lozère",
            "Drawing: a starry sky and the moon above the ridges of Mont Lozère",
            "Zeichnung: ein Sternenhimmel und der Mond über den Kämmen des Mont Lozère",
            "Tekening: een sterrenhemel en de maan boven de kammen van de Mont Lozère",
        ),
    ),
)
FIELDS = Scene(
    (),
    ((185, 215, 240), (245, 235, 210)),
    ((150, 180, 95), (120, 150, 75), (90, 120, 60)),
    "sun",
    "trees",
    _alt(
        "Dessin : des champs et des arbres sur les collines des Cévennes",
        "Drawing: fields and trees on the hills of the Cévennes",
        "Zeichnung: Felder und Bäume auf den Hügeln der Cevennen",
        "Tekening: velden en bomen op de heuvels van de Cevennen",
    ),
)
PORTRAIT = Scene(
    (),
    ((170, 205, 235), (250, 230, 200)),
    ((135, 170, 90), (105, 140, 70), (80, 110, 55)),
    "sun",
    "house",
    _alt(
        "Dessin : la ferme, une maison de pierre au toit de lauzes dans la pente",
        "Drawing: the farm, a stone house with a slate roof on the hillside",
        "Zeichnung: der Hof, ein Steinhaus mit Schieferdach am Hang",
        "Tekening: de boerderij, een stenen huis met een leistenen dak op de helling",
    ),
)
#: Farms that get a portrait (words of their names).
PORTRAIT_FARMS = ("barthe", "grizac")


def scene_for(name: str) -> Scene:
    lowered = name.casefold()
    for scene in SCENES:
        if any(word in lowered for word in scene.words):
            return scene
    return FIELDS


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _hill(draw: ImageDraw.ImageDraw, base: float, height: float, phase: float, colour: Colour):  # type: ignore[no-untyped-def]
    points = [(0, HEIGHT)]
    for x in range(0, WIDTH + 20, 20):
        wave = math.sin(x / WIDTH * math.pi * 1.6 + phase) + 0.4 * math.sin(x / 90 + phase * 3)
        points.append((x, base - height * wave))
    points.append((WIDTH, HEIGHT))
    draw.polygon(points, fill=colour)


def _blob(draw: ImageDraw.ImageDraw, x: float, y: float, size: float, colour: Colour) -> None:
    """An animal seen from afar: a body, a head, four legs."""
    dark = _mix(colour, (40, 35, 30), 0.6)
    for leg in (0.15, 0.35, 0.65, 0.85):
        lx = x - size + 2 * size * leg
        draw.rectangle((lx - 2, y, lx + 2, y + size * 0.7), fill=dark)
    draw.ellipse((x - size, y - size * 0.55, x + size, y + size * 0.3), fill=colour)
    draw.ellipse((x + size * 0.7, y - size * 0.8, x + size * 1.3, y - size * 0.25), fill=colour)


def _tree(draw: ImageDraw.ImageDraw, x: float, y: float, size: float, leaves: Colour) -> None:
    draw.rectangle((x - size * 0.12, y - size * 0.2, x + size * 0.12, y + size), fill=(95, 65, 40))
    draw.ellipse((x - size, y - size * 1.6, x + size, y + size * 0.1), fill=leaves)


def _motif(draw: ImageDraw.ImageDraw, scene: Scene, rng: random.Random) -> None:
    ground = HEIGHT * 0.72
    if scene.motif in ("goats", "sheep", "donkeys"):
        colours = {
            "goats": [(245, 240, 230), (150, 105, 70), (60, 50, 45)],
            "sheep": [(250, 248, 240), (235, 230, 220)],
            "donkeys": [(140, 130, 125), (110, 100, 95)],
        }[scene.motif]
        for _ in range(7):
            x, y = rng.uniform(80, WIDTH - 120), rng.uniform(ground, HEIGHT - 90)
            _blob(draw, x, y, 22 + (y - ground) / 8, rng.choice(colours))
    elif scene.motif == "hives":
        for i in range(5):
            x, y = 160 + i * 210 + rng.uniform(-30, 30), ground + rng.uniform(10, 90)
            draw.rectangle((x - 45, y - 60, x + 45, y + 30), fill=(235, 200, 90))
            draw.rectangle((x - 55, y - 75, x + 55, y - 58), fill=(200, 90, 60))
            for stripe in (-35, -10, 15):
                draw.line((x - 45, y + stripe, x + 45, y + stripe), fill=(190, 150, 60), width=3)
    elif scene.motif in ("trees", "apples"):
        leaves = scene.hills[0] if scene.motif == "trees" else (80, 140, 60)
        for i in range(6):
            x, y = 110 + i * 190 + rng.uniform(-40, 40), ground + rng.uniform(0, 110)
            size = 50 + (y - ground) / 3
            _tree(draw, x, y, size, _mix(leaves, (30, 40, 20), rng.uniform(0, 0.3)))
            if scene.motif == "apples":
                for _ in range(9):
                    ax = x + rng.uniform(-0.75, 0.75) * size
                    ay = y - size * rng.uniform(0.3, 1.3)
                    draw.ellipse((ax - 7, ay - 7, ax + 7, ay + 7), fill=(210, 45, 40))
    elif scene.motif == "river":
        points = [
            (WIDTH * 0.5 + 260 * math.sin(t / 9) * t / 40, ground - 40 + t * 4)
            for t in range(0, 50)
        ]
        for width, colour in ((46, (70, 120, 170)), (26, (120, 170, 210))):
            draw.line(points, fill=colour, width=width, joint="curve")
    elif scene.motif == "stars":
        for _ in range(160):
            x, y, r = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT * 0.6), rng.uniform(1, 3)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 250, 220))
    elif scene.motif == "house":
        x, y = WIDTH * 0.42, ground + 20
        draw.rectangle((x, y - 170, x + 330, y + 60), fill=(185, 170, 150))
        draw.polygon([(x - 30, y - 165), (x + 165, y - 290), (x + 360, y - 165)], fill=(80, 85, 95))
        draw.rectangle((x + 140, y - 40, x + 200, y + 60), fill=(110, 75, 50))
        for wx in (x + 40, x + 250):
            draw.rectangle((wx, y - 120, wx + 45, y - 70), fill=(240, 225, 160))
        _tree(draw, x - 140, y, 80, scene.hills[1])
        _blob(draw, x + 470, y + 70, 30, (245, 240, 230))


def draw_scene(scene: Scene, seed: str) -> bytes:
    """The scene as a JPEG, the same for the same ``seed``."""
    rng = random.Random(seed)
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    top, bottom = scene.sky
    for y in range(HEIGHT):
        draw.line((0, y, WIDTH, y), fill=_mix(top, bottom, y / HEIGHT))
    cx, cy = rng.uniform(WIDTH * 0.15, WIDTH * 0.85), rng.uniform(HEIGHT * 0.12, HEIGHT * 0.3)
    if scene.light == "sun":
        for radius, t in ((110, 0.75), (85, 0.45), (62, 0.0)):
            glow = _mix((255, 225, 120), scene.sky[1], t)
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=glow)
    else:
        draw.ellipse((cx - 55, cy - 55, cx + 55, cy + 55), fill=(245, 240, 215))
        draw.ellipse((cx - 25, cy - 60, cx + 75, cy + 45), fill=_mix(top, bottom, cy / HEIGHT))
    phase = rng.uniform(0, math.tau)
    for depth, colour in enumerate(scene.hills):
        _hill(draw, HEIGHT * (0.5 + 0.12 * depth), 55 - depth * 10, phase + depth * 1.3, colour)
    _motif(draw, scene, rng)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


async def add_demo_pictures(db: Database) -> int:
    """A cover for each activity on the programme (with slots not held nor cancelled), and the portraits of ``PORTRAIT_FARMS``;
    returns how many pictures were added."""
    async with db.reading() as session:
        activities = list(
            await session.execute(
                select(Activity.id, Activity.name)
                .where(
                    Activity.archived_at.is_(None),
                    Activity.id.in_(
                        select(Slot.activity_id).where(Slot.status.in_(BOOKABLE_STATUSES))
                    ),
                )
                .order_by(Activity.id)
            )
        )
        farms = list(await session.execute(select(Provider.id, Provider.name)))
    added = 0
    for activity_id, name in activities:
        scene = scene_for(name)
        data = draw_scene(scene, name)
        owner = pictures.Owner(activity_id=activity_id)
        await pictures.add_picture(db, owner, data, scene.alt, actor=ACTOR)
        added += 1
    for provider_id, name in farms:
        if any(word in name.casefold() for word in PORTRAIT_FARMS):
            owner = pictures.Owner(provider_id=provider_id)
            await pictures.add_picture(
                db, owner, draw_scene(PORTRAIT, name), PORTRAIT.alt, actor=ACTOR
            )
            added += 1
    return added
