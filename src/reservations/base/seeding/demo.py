"""A demo office: two past seasons of farm visits, and six weeks of bookable visits and
animations from tomorrow, with a few bookings, so that every screen has something to show: a
full visit with a waiting list, two visits of one activity under their minimum and decided
within three days (the at-risk board can merge them), a visit called off for the weather.

The past seasons are the shipped CSV files (``reservations.demo_data``), imported like any
history file. The programme starts the day after ``today`` whatever the season: it is a demo.
The day it was made is kept (a ``demo.loaded`` audit entry, ``made_on``), so that ``serve
--demo`` makes it again on a later day rather than show decision times already past.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources

from sqlalchemy import select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    ActivityKind,
    AuditEntry,
    CancelReason,
    Channel,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.rules import audit, waitlist
from reservations.base.rules.booking import BookingPolicy, BookingRequest, book
from reservations.base.rules.planning import new_slot
from reservations.base.rules.slots import cancel_slot
from reservations.base.seeding.demo_pictures import add_demo_pictures
from reservations.base.seeding.history import HistoryImport, import_history

SEASON_FILES = ("season_2021.csv", "season_2022.csv")
PROGRAMME_DAYS = 42
POLICY = BookingPolicy(secret_key="demo", max_party_size=15)
ACTOR = "demo"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
ML, VF, VLC = "Mont Lozère", "Vallée Française", "Vallée Longue et Calbertois"


@dataclass(frozen=True)
class DemoSummary:
    seasons: tuple[HistoryImport, ...]
    first_day: date
    last_day: date
    upcoming_slots: int
    bookings: int
    #: The visits called off (for the weather) and their bookings ended with them: whom to tell.
    cancelled: dict[int, list[int]] = field(default_factory=dict)

    def __str__(self) -> str:
        past = "; ".join(str(season) for season in self.seasons)
        return (
            f"past seasons: {past}. Programme from {self.first_day} to {self.last_day}: "
            f"{self.upcoming_slots} slots, {self.bookings} bookings"
        )


class DemoRefused(Exception):
    """The demo only fills an empty database: it would mix invented data with real data."""


@dataclass(frozen=True)
class _Offer:
    """A provider and one of its activities, with its weekly schedule in the programme."""

    provider: str
    village: str
    sector: str
    email: str
    phone: str
    languages: list[str]
    name: str  # the activity's French title (as in season_2022.csv for the farms)
    kind: ActivityKind
    title: dict[str, str]
    description: dict[str, str]
    accessibility: dict[str, str]
    meeting_point: str
    latitude: float
    longitude: float
    weekdays: tuple[int, ...]
    start: time
    capacity: int
    minimum: int
    duration_minutes: int = 90
    min_age: int | None = None
    price_adult_cents: int = 0
    price_child_cents: int = 0
    #: Weeks of the programme (0 = the first seven days) it runs; None: every week.
    weeks: tuple[int, ...] | None = None

    def runs_on(self, day: date, first_day: date) -> bool:
        week = (day - first_day).days // 7
        return day.weekday() in self.weekdays and (self.weeks is None or week in self.weeks)


def _locales(fr: str, en: str, de: str, nl: str) -> dict[str, str]:
    return {"fr": fr, "en": en, "de": de, "nl": nl}


OFFERS: dict[str, _Offer] = {
    "barthe": _Offer(
        "Chèvrerie du Mas de la Barthe",
        "Saint-Germain-de-Calberte",
        VLC,
        "chevrerie.barthe@example.org",
        "+33 4 65 71 00 01",
        ["fr", "en"],
        "Visite de la chèvrerie et dégustation de pélardon",
        ActivityKind.FARM_VISIT,
        _locales(
            "Visite de la chèvrerie et dégustation de pélardon",
            "Goat farm visit and pélardon tasting",
            "Besuch der Ziegenfarm mit Pélardon-Verkostung",
            "Bezoek aan de geitenboerderij met pélardonproeverij",
        ),
        _locales(
            "Rencontrez nos chèvres, assistez aux soins du troupeau et découvrez la fabrication "
            "du pélardon AOP, avant une dégustation à la fromagerie.",
            "Meet our goats, watch the herd being looked after and see how PDO pélardon cheese "
            "is made, then taste it in the cheese dairy.",
            "Lernen Sie unsere Ziegen kennen, erleben Sie die Pflege der Herde und sehen Sie, "
            "wie der AOP-Käse Pélardon entsteht – mit Verkostung in der Käserei.",
            "Maak kennis met onze geiten, kijk mee bij de verzorging van de kudde en ontdek hoe "
            "de AOP-kaas pélardon wordt gemaakt, met een proeverij in de kaasmakerij.",
        ),
        _locales(
            "Chemin de terre en pente, difficile en fauteuil roulant ; poussettes tout-terrain "
            "possibles.",
            "Sloping dirt track, difficult in a wheelchair; all-terrain pushchairs are fine.",
            "Abschüssiger Feldweg, im Rollstuhl schwierig; geländegängige Kinderwagen möglich.",
            "Hellend onverhard pad, moeilijk met een rolstoel; terreinbuggy's gaan prima.",
        ),
        "Parking du Mas de la Barthe, route du col de Saint-Pierre, Saint-Germain-de-Calberte",
        44.2231,
        3.8047,
        (TUE, FRI),
        time(10, 0),
        15,
        4,
        duration_minutes=120,
        price_adult_cents=500,
        price_child_cents=300,
    ),
    "abeille": _Offer(
        "Les ruchers de l'Abeille noire",
        "Saint-Andéol-de-Clerguemort",
        ML,
        "ruchers.abeillenoire@example.org",
        "+33 4 65 71 00 02",
        ["fr", "nl"],
        "Au cœur de la ruche",
        ActivityKind.FARM_VISIT,
        _locales(
            "Au cœur de la ruche",
            "Inside the hive",
            "Im Herzen des Bienenstocks",
            "In het hart van de bijenkorf",
        ),
        _locales(
            "En combinaison d'apiculteur, ouvrez une ruche avec nous, découvrez l'abeille noire "
            "des Cévennes et goûtez les miels de bruyère et de châtaignier.",
            "Wearing a beekeeper's suit, open a hive with us, meet the Cévennes black bee and "
            "taste heather and chestnut honey.",
            "Im Imkeranzug öffnen Sie mit uns einen Bienenstock, lernen die Schwarze Biene der "
            "Cevennen kennen und probieren Heide- und Kastanienhonig.",
            "In een imkerpak openen we samen een bijenkast, maakt u kennis met de zwarte bij "
            "van de Cevennen en proeft u heide- en kastanjehoning.",
        ),
        _locales(
            "Rucher en terrasses, à 300 m du parking par un sentier ; combinaisons fournies, "
            "tailles enfant dès 4 ans.",
            "Terraced apiary 300 m from the car park along a footpath; suits provided, children's "
            "sizes from age 4.",
            "Bienenstand auf Terrassen, 300 m Fußweg vom Parkplatz; Schutzanzüge vorhanden, "
            "Kindergrößen ab 4 Jahren.",
            "Bijenstand op terrassen, 300 m lopen vanaf de parkeerplaats; pakken aanwezig, "
            "kindermaten vanaf 4 jaar.",
        ),
        "Hameau de Clerguemort, parking près du temple, Saint-Andéol-de-Clerguemort",
        44.3533,
        3.9291,
        (WED,),
        time(14, 30),
        10,
        3,
        min_age=4,
        price_adult_cents=400,
        price_child_cents=200,
    ),
    "grizac": _Offer(
        "Ferme du Mas de Grizac",
        "Le Pont de Montvert",
        ML,
        "masdegrizac@example.org",
        "+33 4 65 71 00 03",
        ["fr"],
        "Brebis et transhumance au Mont Lozère",
        ActivityKind.FARM_VISIT,
        _locales(
            "Brebis et transhumance au Mont Lozère",
            "Sheep and transhumance on Mont Lozère",
            "Schafe und Transhumanz am Mont Lozère",
            "Schapen en transhumance op de Mont Lozère",
        ),
        _locales(
            "Suivez le berger jusqu'aux parcs des brebis et découvrez le métier d'éleveur sur "
            "le Mont Lozère et la tradition de la transhumance.",
            "Follow the shepherd to the sheep pens and learn about farming on Mont Lozère and "
            "the tradition of transhumance.",
            "Begleiten Sie den Hirten zu den Schafpferchen und erfahren Sie mehr über die "
            "Viehzucht am Mont Lozère und die Tradition der Transhumanz.",
            "Loop met de herder mee naar de schaapskooien en ontdek het boerenleven op de "
            "Mont Lozère en de traditie van de transhumance.",
        ),
        _locales(
            "Marche de 1 km sur terrain caillouteux ; chaussures de marche conseillées.",
            "A 1 km walk on stony ground; walking shoes recommended.",
            "1 km Fußweg auf steinigem Gelände; Wanderschuhe empfohlen.",
            "Wandeling van 1 km over stenig terrein; wandelschoenen aanbevolen.",
        ),
        "Mas de Grizac, 3 km au nord du Pont de Montvert par la D20",
        44.3811,
        3.7402,
        (THU,),
        time(10, 0),
        20,
        5,
        duration_minutes=120,
    ),
    "anes": _Offer(
        "Ferme des Ânes de la Vallée",
        "Moissac-Vallée-Française",
        VF,
        "anesdelavallee@example.org",
        "+33 4 65 71 00 04",
        ["fr", "en", "de"],
        "Balade avec les ânes",
        ActivityKind.FARM_VISIT,
        _locales(
            "Balade avec les ânes",
            "A walk with the donkeys",
            "Wanderung mit den Eseln",
            "Wandeling met de ezels",
        ),
        _locales(
            "Brossez et bâtez votre âne, puis partez pour une balade familiale le long du "
            "Gardon ; les enfants montent à tour de rôle.",
            "Groom and saddle your donkey, then set off on a family walk along the Gardon; "
            "children take turns riding.",
            "Striegeln und satteln Sie Ihren Esel und brechen Sie zu einer Familienwanderung "
            "entlang des Gardon auf; die Kinder reiten abwechselnd.",
            "Borstel en zadel je ezel en ga op pad voor een gezinswandeling langs de Gardon; "
            "de kinderen rijden om beurten.",
        ),
        _locales(
            "Balade de 3 km sur sentier ; les moins de 3 ans en porte-bébé.",
            "A 3 km walk on a footpath; children under 3 in a baby carrier.",
            "3 km auf einem Wanderweg; Kinder unter 3 Jahren in der Trage.",
            "Wandeling van 3 km over een pad; kinderen onder 3 jaar in een draagzak.",
        ),
        "Ferme des Ânes, hameau du Mazel, Moissac-Vallée-Française",
        44.1702,
        3.7733,
        (WED,),
        time(10, 0),
        14,
        4,
        duration_minutes=120,
        min_age=3,
        price_adult_cents=600,
        price_child_cents=400,
    ),
    "fontmort": _Offer(
        "Châtaigneraie de Fontmort",
        "Saint-Étienne-Vallée-Française",
        VF,
        "chataigneraie.fontmort@example.org",
        "+33 4 65 71 00 05",
        ["fr", "en"],
        "Châtaignes, clède et farine",
        ActivityKind.FARM_VISIT,
        _locales(
            "Châtaignes, clède et farine",
            "Chestnuts, drying house and flour",
            "Kastanien, Darrhaus und Mehl",
            "Kastanjes, droogschuur en meel",
        ),
        _locales(
            "Parcourez la châtaigneraie, entrez dans la clède où sèchent les châtaignes et "
            "découvrez comment on en fait de la farine.",
            "Walk through the chestnut grove, step into the clède where chestnuts are dried, "
            "and see how they become flour.",
            "Spazieren Sie durch den Kastanienhain, betreten Sie die Clède, in der die "
            "Kastanien trocknen, und sehen Sie, wie daraus Mehl wird.",
            "Wandel door het kastanjebos, stap binnen in de clède waar de kastanjes drogen en "
            "ontdek hoe er meel van wordt gemaakt.",
        ),
        _locales(
            "Chemin stabilisé jusqu'à la clède, accessible en fauteuil roulant.",
            "Firm path to the drying house, wheelchair accessible.",
            "Befestigter Weg bis zum Darrhaus, rollstuhlgerecht.",
            "Verhard pad tot aan de droogschuur, toegankelijk met een rolstoel.",
        ),
        "Châtaigneraie de Fontmort, D983 direction col de Pendedis, Saint-Étienne-Vallée-Française",
        44.1869,
        3.8317,
        (MON,),
        time(16, 0),
        18,
        4,
        price_adult_cents=300,
    ),
    "vergers": _Offer(
        "Vergers de la Vallée Longue",
        "Saint-Privat-de-Vallongue",
        VLC,
        "vergers.valleelongue@example.org",
        "+33 4 65 71 00 06",
        ["fr"],
        "Pommes reinettes et jus de pomme",
        ActivityKind.FARM_VISIT,
        _locales(
            "Pommes reinettes et jus de pomme",
            "Reinette apples and apple juice",
            "Renetten-Äpfel und Apfelsaft",
            "Renetappels en appelsap",
        ),
        _locales(
            "Visitez le verger en terrasses, apprenez à reconnaître les variétés anciennes et "
            "pressez votre jus de pomme.",
            "Visit the terraced orchard, learn to tell the old varieties apart and press your "
            "own apple juice.",
            "Besuchen Sie den Obstgarten auf Terrassen, lernen Sie alte Sorten kennen und "
            "pressen Sie Ihren eigenen Apfelsaft.",
            "Bezoek de boomgaard op terrassen, leer de oude rassen herkennen en pers je eigen "
            "appelsap.",
        ),
        _locales(
            "Accessible en fauteuil roulant ; toilettes adaptées.",
            "Wheelchair accessible; accessible toilets.",
            "Rollstuhlgerecht; barrierefreie Toilette.",
            "Toegankelijk met een rolstoel; aangepast toilet.",
        ),
        "Vergers de la Vallée Longue, au bord de la D29, Saint-Privat-de-Vallongue",
        44.2898,
        3.8246,
        (FRI,),
        time(14, 30),
        20,
        5,
    ),
    "pelardon": _Offer(
        "Office de tourisme des Cévennes au Mont Lozère",
        "Le Pont de Montvert",
        ML,
        "accueil.otcml@example.org",
        "+33 4 65 71 00 10",
        ["fr", "en"],
        "Atelier fabrication du pélardon",
        ActivityKind.ANIMATION,
        _locales(
            "Atelier fabrication du pélardon",
            "Pélardon cheese-making workshop",
            "Workshop: Pélardon-Käse selbst herstellen",
            "Workshop pélardon maken",
        ),
        _locales(
            "Avec une fromagère de la vallée, moulez vos pélardons, apprenez l'affinage et "
            "repartez avec vos fromages.",
            "With a cheesemaker from the valley, mould your own pélardons, learn about ripening "
            "and take your cheeses home.",
            "Mit einer Käserin aus dem Tal formen Sie Ihre eigenen Pélardons, lernen die "
            "Reifung kennen und nehmen Ihre Käse mit nach Hause.",
            "Samen met een kaasmaakster uit de vallei giet je je eigen pélardons, leer je over "
            "het rijpen en neem je je kaasjes mee naar huis.",
        ),
        _locales(
            "Salle de plain-pied, accessible en fauteuil roulant.",
            "Ground-floor room, wheelchair accessible.",
            "Ebenerdiger Raum, rollstuhlgerecht.",
            "Zaal gelijkvloers, toegankelijk met een rolstoel.",
        ),
        "Salle des fêtes, place du village, Sainte-Croix-Vallée-Française",
        44.1917,
        3.7442,
        (THU,),
        time(15, 0),
        12,
        5,
        duration_minutes=150,
        min_age=6,
        price_adult_cents=1500,
        price_child_cents=800,
    ),
    "contes": _Offer(
        "Les Conteurs du Tarn",
        "Le Pont de Montvert",
        ML,
        "conteursdutarn@example.org",
        "+33 4 65 71 00 11",
        ["fr"],
        "Balade contée au fil du Tarn",
        ActivityKind.ANIMATION,
        _locales(
            "Balade contée au fil du Tarn",
            "Storytelling walk along the Tarn",
            "Erzählwanderung am Tarn",
            "Verhalenwandeling langs de Tarn",
        ),
        _locales(
            "Une promenade au bord du Tarn ponctuée de contes et légendes des Cévennes : "
            "camisards, fées des sources et bêtes du Mont Lozère.",
            "A walk along the Tarn with tales and legends of the Cévennes: Camisards, spring "
            "fairies and the beasts of Mont Lozère (told in French).",
            "Ein Spaziergang am Tarn mit Geschichten und Legenden der Cevennen: Kamisarden, "
            "Quellfeen und die Tiere des Mont Lozère (auf Französisch).",
            "Een wandeling langs de Tarn met verhalen en legenden uit de Cevennen: camisards, "
            "bronfeeën en de beesten van de Mont Lozère (in het Frans).",
        ),
        _locales(
            "2 km sur chemin plat, accessible aux poussettes.",
            "2 km on a flat path, fine with pushchairs.",
            "2 km auf ebenem Weg, mit Kinderwagen möglich.",
            "2 km over een vlak pad, geschikt voor kinderwagens.",
        ),
        "Devant la Maison du Mont Lozère, Le Pont de Montvert",
        44.3652,
        3.7459,
        (TUE,),
        time(17, 30),
        25,
        4,
        duration_minutes=120,
        min_age=5,
    ),
    "astro": _Offer(
        "Association Ciel étoilé du Mont Lozère",
        "Le Pont de Montvert",
        ML,
        "cieletoile.montlozere@example.org",
        "+33 4 65 71 00 12",
        ["fr", "en"],
        "Soirée astronomie au Mont Lozère",
        ActivityKind.ANIMATION,
        _locales(
            "Soirée astronomie au Mont Lozère",
            "Stargazing evening on Mont Lozère",
            "Sternenabend am Mont Lozère",
            "Sterrenkijkavond op de Mont Lozère",
        ),
        _locales(
            "Au cœur de la Réserve internationale de ciel étoilé, observez planètes, nébuleuses "
            "et galaxies aux télescopes avec les astronomes amateurs de l'association.",
            "In the heart of the International Dark Sky Reserve, look at planets, nebulae and "
            "galaxies through telescopes with the club's amateur astronomers.",
            "Mitten im internationalen Sternenpark beobachten Sie Planeten, Nebel und Galaxien "
            "durch die Teleskope der Hobbyastronomen des Vereins.",
            "Midden in het internationale sterrenwachtgebied bekijk je planeten, nevels en "
            "sterrenstelsels door de telescopen van de amateurastronomen van de vereniging.",
        ),
        _locales(
            "Site à 1 540 m : vêtements chauds indispensables ; parking à 50 m, accessible en "
            "fauteuil roulant.",
            "Site at 1,540 m: warm clothes essential; car park 50 m away, wheelchair accessible.",
            "Standort auf 1540 m: warme Kleidung unerlässlich; Parkplatz 50 m entfernt, "
            "rollstuhlgerecht.",
            "Locatie op 1540 m: warme kleding noodzakelijk; parkeerplaats op 50 m, "
            "toegankelijk met een rolstoel.",
        ),
        "Col de Finiels, parking de la station du Mont Lozère, Le Pont de Montvert",
        44.3916,
        3.7542,
        (FRI,),
        time(21, 0),
        20,
        6,
        duration_minutes=120,
        min_age=6,
        price_adult_cents=800,
        price_child_cents=400,
        weeks=(0, 2, 4),
    ),
    "chataigne": _Offer(
        "Comité des fêtes de Saint-Germain-de-Calberte",
        "Saint-Germain-de-Calberte",
        VLC,
        "fetes.stgermain@example.org",
        "+33 4 65 71 00 13",
        ["fr"],
        "Fête de la châtaigne : balade gourmande",
        ActivityKind.ANIMATION,
        _locales(
            "Fête de la châtaigne : balade gourmande",
            "Chestnut festival: tasting walk",
            "Kastanienfest: Genusswanderung",
            "Kastanjefeest: culinaire wandeling",
        ),
        _locales(
            "Balade dans les châtaigneraies avec haltes gourmandes (soupe, crêpes, "
            "châtaignes grillées), puis marché de producteurs au village.",
            "A walk through the chestnut groves with tasting stops (soup, pancakes, roast "
            "chestnuts), then the farmers' market in the village.",
            "Wanderung durch die Kastanienhaine mit Genussstopps (Suppe, Crêpes, geröstete "
            "Kastanien), danach Bauernmarkt im Dorf.",
            "Wandeling door de kastanjebossen met proefstops (soep, pannenkoeken, gepofte "
            "kastanjes), daarna de boerenmarkt in het dorp.",
        ),
        _locales(
            "Parcours de 4 km avec dénivelé ; le marché est accessible en fauteuil roulant.",
            "A 4 km route with some climbs; the market is wheelchair accessible.",
            "4 km Strecke mit Steigungen; der Markt ist rollstuhlgerecht.",
            "Route van 4 km met hoogteverschil; de markt is toegankelijk met een rolstoel.",
        ),
        "Place de l'église, Saint-Germain-de-Calberte",
        44.2165,
        3.8066,
        (SUN,),
        time(10, 0),
        60,
        0,
        duration_minutes=180,
        weeks=(3,),
    ),
}

#: The at-risk visit: the day after tomorrow, decided within 72 hours, under its minimum.
AT_RISK = ("grizac", 1, time(10, 0))
#: A second visit of the same activity under its minimum the day after, also decided within
#: 72 hours (at the latest the day after tomorrow at 18:00): the board proposes to merge them.
AT_RISK_NEXT_DAYS_AFTER = 2


#: Where a demo booking goes besides the n-th slot of its offer in the programme.
AT_RISK_SLOT, THIS_MORNING, TOMORROW, AT_RISK_NEXT = -1, -2, -3, -4


@dataclass(frozen=True)
class _Booking:
    offer: str
    #: 0: the offer's first slot in the programme, 1 the next...; or one of the slots above.
    occurrence: int
    adults: int
    children: int
    name: str
    channel: Channel
    locale: str


WEB, COUNTER, PHONE = Channel.WEB, Channel.COUNTER, Channel.PHONE
BOOKINGS = (
    # Full: 10 of 10.
    _Booking("abeille", 0, 2, 2, "Sophie Martin", WEB, "fr"),
    _Booking("abeille", 0, 2, 1, "Jan de Vries", WEB, "nl"),
    _Booking("abeille", 0, 1, 2, "Claire Dubois", PHONE, "fr"),
    # Nearly full: 13 of 14.
    _Booking("anes", 0, 2, 3, "Familie Müller", WEB, "de"),
    _Booking("anes", 0, 4, 0, "Emma Thompson", WEB, "en"),
    _Booking("anes", 0, 2, 2, "Lucie Bernard", COUNTER, "fr"),
    # At risk: 2 of a minimum of 5, and the next day 3 of the same minimum: together they
    # reach it, so the board proposes to merge them (the 2 invited to the day of the 3).
    _Booking("grizac", AT_RISK_SLOT, 2, 0, "Pieter Janssen", WEB, "nl"),
    _Booking("grizac", AT_RISK_NEXT, 2, 1, "Famille Garnier", WEB, "fr"),
    # Called off for the weather (WEATHER), its visitors told by email.
    _Booking("vergers", 0, 2, 2, "Martine Roche", WEB, "fr"),
    _Booking("vergers", 0, 2, 0, "Oliver Clarke", WEB, "en"),
    # The farmer's day (FARMER_DAY): a visit this morning, over, whose attendance is to record,
    # and one tomorrow.
    _Booking("barthe", THIS_MORNING, 2, 2, "Famille Lefèvre", WEB, "fr"),
    _Booking("barthe", THIS_MORNING, 2, 0, "Anke Schneider", WEB, "de"),
    _Booking("barthe", THIS_MORNING, 1, 1, "Laura Evans", COUNTER, "en"),
    _Booking("barthe", TOMORROW, 2, 1, "Familie Schulz", WEB, "de"),
    _Booking("barthe", TOMORROW, 2, 0, "Bram de Jong", WEB, "nl"),
    # Enough to go ahead, or on the way.
    _Booking("barthe", 0, 2, 2, "Julien Roux", WEB, "fr"),
    _Booking("barthe", 0, 2, 0, "Marie Fabre", PHONE, "fr"),
    _Booking("barthe", 1, 2, 1, "Thomas Becker", WEB, "de"),
    _Booking("pelardon", 0, 2, 1, "Nathalie Laurent", COUNTER, "fr"),
    _Booking("pelardon", 0, 1, 1, "Sarah Johnson", WEB, "en"),
    _Booking("contes", 0, 2, 2, "Camille Petit", WEB, "fr"),
    _Booking("astro", 0, 3, 1, "David Wilson", WEB, "en"),
    _Booking("astro", 0, 2, 2, "Sanne Bakker", WEB, "nl"),
    _Booking("fontmort", 0, 2, 0, "Henk Visser", PHONE, "nl"),
    _Booking("chataigne", 0, 4, 4, "Association Les Randonneurs Alésiens", PHONE, "fr"),
    _Booking("chataigne", 0, 2, 3, "Famille Chabrol", WEB, "fr"),
)


#: The farm whose day sheet has something to show today and tomorrow (``provider link``).
FARMER_DAY = "barthe"

#: The full visit (its offer's first slot in the programme), and who waits for a place on it.
FULL = ("abeille", 0)


@dataclass(frozen=True)
class _Waiting:
    adults: int
    children: int
    name: str
    email: str
    locale: str


WAITING = (
    _Waiting(2, 1, "Katrin Hoffmann", "hoffmann@example.org", "de"),
    _Waiting(2, 0, "James Walker", "walker@example.org", "en"),
    _Waiting(1, 2, "Élodie Garnier", "elodie.garnier@example.org", "fr"),
)

#: The visit called off for the weather: its offer's first slot in the programme.
WEATHER = ("vergers", 0)


@dataclass
class _Programme:
    slots: dict[str, list[Slot]] = field(default_factory=dict)
    #: The at-risk slots, this morning's and tomorrow's slot of the farmer's day.
    special: dict[int, Slot] = field(default_factory=dict)

    def slot_for(self, booking: _Booking) -> Slot:
        if booking.occurrence < 0:
            return self.special[booking.occurrence]
        return self.slots[booking.offer][booking.occurrence]

    @property
    def count(self) -> int:
        return sum(len(slots) for slots in self.slots.values())


async def database_is_empty(db: Database) -> bool:
    """True when there is no provider at all (a fresh installation)."""
    async with db.reading() as session:
        return await session.scalar(select(Provider.id).limit(1)) is None


async def made_on(db: Database) -> date | None:
    """The day the demo in this database was made for: the last ``demo.loaded`` entry's, or for
    a demo made before those entries, the day of its first audit entry; None: no demo here."""
    async with db.reading() as session:
        marker = await session.scalar(
            select(AuditEntry.data)
            .where(AuditEntry.actor == ACTOR, AuditEntry.action == "demo.loaded")
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        if marker is not None:
            return date.fromisoformat(marker["today"])
        first = await session.scalar(
            select(AuditEntry.at).where(AuditEntry.actor == ACTOR).order_by(AuditEntry.id).limit(1)
        )
    return clock.local_date(first) if first is not None else None


async def load_demo(db: Database, *, today: date | None = None) -> DemoSummary:
    """Fill an empty database with the demo; refuses (``DemoRefused``) a database with data."""
    if not await database_is_empty(db):
        raise DemoRefused("the database already holds providers: the demo needs an empty one")
    now = clock.now() if today is None else clock.local_datetime(today, time(12, 0))
    first_day = (today or clock.today()) + timedelta(days=1)
    seasons = []
    for name in SEASON_FILES:
        source = resources.files("reservations.demo_data").joinpath(name)
        with source.open("r", encoding="utf-8-sig", newline="") as stream:
            seasons.append(await import_history(db, stream, actor=ACTOR))
    programme = await _plan(db, first_day, now)
    for booking in BOOKINGS:
        slot = programme.slot_for(booking)
        await _book(db, slot, booking, _booked_at(slot, now))
    await _fill_the_waiting_list(db, programme.slots[FULL[0]][FULL[1]], now)
    cancelled = await _call_off_for_the_weather(db, programme.slots[WEATHER[0]][WEATHER[1]], now)
    await add_demo_pictures(db)
    return DemoSummary(
        seasons=tuple(seasons),
        first_day=first_day,
        last_day=first_day + timedelta(days=PROGRAMME_DAYS - 1),
        upcoming_slots=programme.count,
        bookings=len(BOOKINGS),
        cancelled=cancelled,
    )


async def _plan(db: Database, first_day: date, now: datetime) -> _Programme:
    """Providers and activities made ready to book, and their slots, in one transaction."""
    programme = _Programme()
    async with db.writing() as session:
        found = await session.scalars(
            select(Provider).where(Provider.name.in_([o.provider for o in OFFERS.values()]))
        )
        providers = {p.name: p for p in found}
        found = await session.scalars(
            select(Activity).where(Activity.provider_id.in_([p.id for p in providers.values()]))
        )
        activities = {(a.provider_id, a.name): a for a in found}
        for key, offer in OFFERS.items():
            provider = providers.get(offer.provider) or Provider(name=offer.provider)
            _describe_provider(provider, offer)
            session.add(provider)
            await session.flush()
            activity = activities.get((provider.id, offer.name)) or Activity(
                provider_id=provider.id, name=offer.name, kind=offer.kind
            )
            _describe_activity(activity, offer)
            session.add(activity)
            await session.flush()
            programme.slots[key] = _slots_of(activity, offer, first_day)
            if key == AT_RISK[0]:
                programme.special[AT_RISK_SLOT] = _slot_at(
                    programme.slots[key], activity, _at_risk_start(first_day)
                )
                programme.special[AT_RISK_NEXT] = _slot_at(
                    programme.slots[key],
                    activity,
                    _at_risk_start(first_day, days_after=AT_RISK_NEXT_DAYS_AFTER),
                )
            if key == FARMER_DAY:
                programme.special[TOMORROW] = _slot_at(
                    programme.slots[key], activity, clock.local_datetime(first_day, offer.start)
                )
                programme.special[THIS_MORNING] = _this_mornings_visit(activity, now)
        slots = [slot for offer_slots in programme.slots.values() for slot in offer_slots]
        slots.append(programme.special[THIS_MORNING])
        session.add_all(slots)
        await session.flush()
        for slot in slots:
            audit.record(
                session,
                ACTOR,
                "slot.created",
                slot_id=slot.id,
                after={"status": slot.status.value, "capacity": slot.capacity},
            )
        # The day it was made for: ``serve --demo`` makes it again on a later day.
        audit.record(
            session, ACTOR, "demo.loaded", today=(first_day - timedelta(days=1)).isoformat()
        )
    return programme


def _describe_provider(provider: Provider, offer: _Offer) -> None:
    provider.village = provider.village or offer.village
    provider.sector = provider.sector or offer.sector
    provider.email, provider.phone = offer.email, offer.phone
    provider.languages = list(offer.languages)


def _describe_activity(activity: Activity, offer: _Offer) -> None:
    activity.title = dict(offer.title)
    activity.description = dict(offer.description)
    activity.accessibility = dict(offer.accessibility)
    activity.meeting_point = offer.meeting_point
    activity.latitude, activity.longitude = offer.latitude, offer.longitude
    activity.min_age = offer.min_age
    activity.duration_minutes = offer.duration_minutes
    activity.default_capacity = offer.capacity
    activity.default_min_participants = offer.minimum
    activity.price_adult_cents = offer.price_adult_cents
    activity.price_child_cents = offer.price_child_cents
    activity.cutoff_minutes = 120
    activity.decision_days_before = 1
    activity.decision_time = time(18, 0)
    activity.directions = _directions(offer)


def _directions(offer: _Offer) -> dict[str, str]:
    """How to get there, as an office would write it: its summer shuttle and the parking."""
    village, sector = offer.village, offer.sector
    return {
        "fr": (
            f"Navette estivale de l'office (ligne {sector}) : arrêt « {village} – place », puis "
            "10 minutes à pied, fléché. En voiture : parking à l'entrée de la ferme."
        ),
        "en": (
            f'The office\'s summer shuttle ({sector} line): stop "{village} – place", then a '
            "10-minute signposted walk. By car: parking at the farm's entrance."
        ),
        "de": (
            f"Sommer-Shuttle des Büros (Linie {sector}): Haltestelle „{village} – place“, dann "
            "10 Minuten ausgeschilderter Fußweg. Mit dem Auto: Parkplatz am Hofeingang."
        ),
        "nl": (
            f'Zomerpendel van het bureau (lijn {sector}): halte "{village} – place", dan 10 '
            "minuten bewegwijzerd lopen. Met de auto: parkeren bij de ingang van de boerderij."
        ),
    }


def _slots_of(activity: Activity, offer: _Offer, first_day: date) -> list[Slot]:
    days = (first_day + timedelta(days=n) for n in range(PROGRAMME_DAYS))
    return [
        new_slot(activity, clock.local_datetime(day, offer.start))
        for day in days
        if offer.runs_on(day, first_day)
    ]


def _at_risk_start(first_day: date, *, days_after: int = AT_RISK[1]) -> datetime:
    """The day after tomorrow (or ``days_after`` tomorrow): decided within 72 hours."""
    return clock.local_datetime(first_day + timedelta(days=days_after), AT_RISK[2])


def _this_mornings_visit(activity: Activity, now: datetime) -> Slot:
    """A visit that ended within the hour, confirmed: its farmer has attendance to record."""
    ends_at = now.replace(minute=0, second=0, microsecond=0)
    starts_at = ends_at - timedelta(minutes=activity.duration_minutes)
    return new_slot(activity, starts_at, status=SlotStatus.CONFIRMED)


def _slot_at(slots: list[Slot], activity: Activity, starts_at: datetime) -> Slot:
    """The activity's slot at that time in the programme, added if need be."""
    for slot in slots:
        if slot.starts_at == starts_at:
            return slot
    slot = new_slot(activity, starts_at)
    slots.append(slot)
    slots.sort(key=lambda s: s.starts_at)
    return slot


async def _book(db: Database, slot: Slot, booking: _Booking, now: datetime) -> None:
    surname = booking.name.split()[-1].lower()
    contact = unicodedata.normalize("NFKD", surname).encode("ascii", "ignore").decode()
    request = BookingRequest(
        slot_id=slot.id,
        adults=booking.adults,
        children=booking.children,
        name=booking.name,
        email=None if booking.channel == PHONE else f"{contact}@example.org",
        phone="+33 6 39 98 00 00" if booking.channel != WEB else None,
        locale=booking.locale,
        channel=booking.channel,
    )
    actor = "visitor" if booking.channel == WEB else "staff:demo@example.org"
    await book(db, request, POLICY, actor=actor, now=now)


def _booked_at(slot: Slot, now: datetime) -> datetime:
    """When the demo's people booked or joined the list: now, or a day before the cut-off of
    this morning's visit (already over now)."""
    return min(now, slot.booking_cutoff_at - timedelta(days=1))


async def _fill_the_waiting_list(db: Database, slot: Slot, now: datetime) -> None:
    """The full visit's waiting list, joined as visitors join it (``waitlist.join``)."""
    for waiting in WAITING:
        await waitlist.join(
            db,
            slot.id,
            adults=waiting.adults,
            children=waiting.children,
            name=waiting.name,
            email=waiting.email,
            locale=waiting.locale,
            policy=POLICY,
            now=_booked_at(slot, now),
        )


async def _call_off_for_the_weather(
    db: Database, slot: Slot, now: datetime
) -> dict[int, list[int]]:
    """The office calls a booked visit off for the weather (``rules.slots.cancel_slot``); whoever
    loads the demo tells its visitors (``notices.followups.slot_cancelled``, or ``tick``)."""
    ended = await cancel_slot(
        db, slot.id, CancelReason.WEATHER, actor="staff:demo@example.org", now=now
    )
    return {slot.id: ended}
