"""The demo's material: about 30 innovation needs from the region's public buyers, the AMI's text and rules
document, about 40 innovative companies with valid SIRETs, and — once the AMI is open — about 80 answers.

Kept coherent with the cycle's stage. The default demo stands on 1 March 2017 during the needs collection:
most needs are already accepted by the PFRA (so the admin can open the AMI at the end of March), a few wait
for qualification or are drafts the buyers can still submit, and the companies are registered, but no answer
exists yet: answers can only be drafted once the AMI is open. `seed-demo --etape ami` moves the demo to
20 April 2017, opens the AMI and adds the answers (submitted between its opening and that day, a few still
drafts, some already screened by the secretariat, a few withdrawn).

Records are written directly, in one transaction, with one audit row summing up what the seed made; the
workflows' own moves (and their mails) are for the people trying the demo.
"""

from __future__ import annotations

import io
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from stdnum import luhn
from stdnum.fr import siret as stdnum_siret
from werkzeug.datastructures import FileStorage

from innovation_cycle import clock
from innovation_cycle.extensions import db
from innovation_cycle.models import (
    Application,
    ApplicationNeed,
    Company,
    Cycle,
    Need,
    Organization,
    OrganizationKind,
    Role,
    Theme,
    User,
    UserRole,
)
from innovation_cycle.services import ami as ami_service
from innovation_cycle.services import audit, uploads
from innovation_cycle.services.companies import size_category

SEED = 2017
AMI_DEMO_DAY = (2017, 4, 20, 9, 0)

THEMES = (
    "Mobilité et transports",
    "Énergie et bâtiments",
    "Santé et autonomie",
    "Numérique et données",
    "Environnement, eau et déchets",
    "Éducation et jeunesse",
    "Sécurité et prévention",
    "Relation aux usagers",
)
MOB, ENE, SAN, NUM, ENV, EDU, SEC, USA = range(len(THEMES))

# Buyers added to the demo's organizations (key: name, kind, department).
EXTRA_BUYERS = {
    "nord": ("Département du Nord", OrganizationKind.LOCAL_AUTHORITY, "59"),
    "region": ("Région Hauts-de-France", OrganizationKind.LOCAL_AUTHORITY, "59"),
    "chu": ("CHU de Lille", OrganizationKind.HOSPITAL, "59"),
    "amiens": ("Ville d'Amiens", OrganizationKind.LOCAL_AUTHORITY, "80"),
    "univ": ("Université de Lille", OrganizationKind.PUBLIC_BODY, "59"),
    "sdis": ("SDIS du Pas-de-Calais", OrganizationKind.PUBLIC_BODY, "62"),
    "rectorat": ("Rectorat de l'académie de Lille", OrganizationKind.STATE_SERVICE, "59"),
    "dreal": ("DREAL Hauts-de-France", OrganizationKind.STATE_SERVICE, "59"),
}


@dataclass(frozen=True)
class DemoNeed:
    buyer: str
    title: str
    problem: str
    outcomes: str
    themes: tuple[int, ...]
    category: str  # goods | services | works
    value: int | None
    horizon: str
    cpv: tuple[str, ...] = ()
    context: str | None = None
    experimentation: bool = False
    non_tech: bool = True
    confidential: bool = False
    status: str = "accepted"
    comment: str | None = None  # the PFRA's comment on a returned need
    constraints: dict[str, str] | None = None


NEEDS: tuple[DemoNeed, ...] = (
    DemoNeed("mel", "Connaître en temps réel la fréquentation des pistes cyclables",
             "Nous ne savons pas combien de cyclistes empruntent chaque axe ni à quelle heure : les comptages "
             "manuels ont lieu deux fois par an et ne permettent pas d'évaluer les aménagements.",
             "Des données de passage fiables, par axe et par heure, ouvertes au public et exploitables par nos "
             "services pour prioriser les travaux.", (MOB, NUM), "goods", 180000, "6_to_12_months",
             ("34996000-1", "38550000-5"), "Le plan vélo métropolitain prévoit 100 km d'aménagements d'ici 2020.",
             experimentation=True,
             constraints={"constraint_data_protection": "Aucune donnée personnelle : pas d'image identifiante.",
                          "constraint_interoperability": "Données publiées au format ouvert sur notre portail."}),
    DemoNeed("mel", "Réduire les dépôts sauvages de déchets aux abords des points d'apport volontaire",
             "Les dépôts au pied des conteneurs mobilisent des équipes de collecte chaque jour et dégradent le "
             "cadre de vie des quartiers.",
             "Une baisse mesurable des dépôts et des tournées de ramassage mieux ciblées.", (ENV,), "services",
             90000, "6_to_12_months", ("90511000-2",), experimentation=True),
    DemoNeed("mel", "Informer les voyageurs des perturbations du réseau en langage simple",
             "Les messages de perturbation sont techniques et arrivent tard ; les voyageurs occasionnels et les "
             "personnes en situation de handicap sont mal informés.",
             "Des informations compréhensibles par tous, diffusées sur plusieurs canaux en moins de cinq minutes.",
             (MOB, USA), "services", 150000, "12_to_24_months",
             constraints={"constraint_accessibility": "Conformité au RGAA et messages en FALC."}),
    DemoNeed("mel", "Optimiser l'éclairage des zones d'activités la nuit",
             "L'éclairage des zones d'activités fonctionne toute la nuit, y compris quand personne n'y circule.",
             "Une réduction d'au moins 40 % de la consommation sans dégrader la sécurité.", (ENE,), "works", 400000,
             "12_to_24_months", ("45316110-9",), status="draft"),
    DemoNeed("lille", "Suivre la qualité de l'air intérieur dans les écoles",
             "Les mesures réglementaires sont ponctuelles ; nous ne savons pas quand aérer ni quelles classes sont "
             "les plus exposées.",
             "Des capteurs simples, des alertes compréhensibles par les enseignants et un suivi par école.",
             (EDU, SAN, ENE), "goods", 120000, "under_6_months", ("38432000-2",), experimentation=True),
    DemoNeed("lille", "Simplifier l'inscription aux activités périscolaires",
             "Les familles remplissent plusieurs formulaires papier ; les erreurs de saisie retardent les "
             "inscriptions et la facturation.",
             "Une démarche en ligne unique, accessible sur téléphone, reliée à notre logiciel de facturation.",
             (EDU, USA, NUM), "services", 80000, "6_to_12_months", ("72212000-4",),
             constraints={"constraint_hosting": "Hébergement en France ; données des familles protégées.",
                          "constraint_accessibility": "RGAA niveau AA."}),
    DemoNeed("lille", "Mieux accueillir les usagers non francophones aux guichets",
             "Les agents d'accueil manquent de moyens pour comprendre les demandes des usagers qui ne parlent pas "
             "français.", "Un service d'interprétariat ou de traduction disponible immédiatement au guichet.",
             (USA,), "services", 40000, "under_6_months"),
    DemoNeed("lille", "Végétaliser les cours d'écoles pour lutter contre les îlots de chaleur",
             "Les cours bitumées dépassent 50 °C en été ; les projets de végétalisation sont coûteux et longs.",
             "Des solutions de désimperméabilisation rapides à poser et simples à entretenir.", (ENV, EDU), "works",
             300000, "12_to_24_months", ("45112710-5",), status="submitted"),
    DemoNeed("prefecture", "Réduire l'attente aux guichets des titres de séjour",
             "Les usagers attendent plusieurs heures ; les rendez-vous en ligne sont saturés par des revendeurs.",
             "Une prise de rendez-vous équitable et une attente réduite de moitié.", (USA, NUM), "services", 200000,
             "6_to_12_months", ("72000000-5",), confidential=True),
    DemoNeed("prefecture", "Détecter les bâtiments de l'État les plus énergivores",
             "Le parc immobilier de l'État en région compte plus de 600 bâtiments dont les consommations sont mal "
             "connues.", "Un classement des bâtiments et des actions prioritaires chiffrées.", (ENE, NUM),
             "services", 250000, "12_to_24_months", ("71314300-5",)),
    DemoNeed("pfra", "Dématérialiser le suivi des achats mutualisés des services de l'État",
             "Le recensement des besoins des services se fait par tableurs échangés par courriel.",
             "Un outil collaboratif de recensement et de suivi, relié à la programmation des achats.", (NUM,),
             "services", 60000, "6_to_12_months", ("72260000-5",), non_tech=False),
    DemoNeed("pfra", "Réduire l'empreinte des déplacements professionnels des agents",
             "Les déplacements entre sites se font surtout en véhicule individuel.",
             "Des solutions de mobilité partagée ou décarbonée adaptées aux agents.", (MOB, ENV), "services",
             100000, "12_to_24_months"),
    DemoNeed("nord", "Maintenir à domicile les personnes âgées isolées",
             "Les situations de fragilité sont repérées trop tard, souvent après une chute ou une hospitalisation.",
             "Un repérage précoce, respectueux de la vie privée, coordonné avec les services d'aide à domicile.",
             (SAN, USA), "services", 350000, "12_to_24_months", experimentation=True,
             constraints={"constraint_data_protection": "Données de santé : hébergement certifié HDS."}),
    DemoNeed("nord", "Surveiller l'état des ponts départementaux",
             "Les inspections visuelles des 1 500 ouvrages d'art ne permettent pas d'anticiper les dégradations.",
             "Une surveillance continue des ouvrages sensibles et des alertes avant travaux lourds.", (SEC, NUM),
             "services", 500000, "over_24_months", ("71631450-1",)),
    DemoNeed("nord", "Lutter contre le décrochage des collégiens",
             "Certains collégiens décrochent sans que les signaux faibles soient partagés entre les acteurs.",
             "Des outils pédagogiques ou d'accompagnement qui raccrochent les élèves.", (EDU,), "services", 120000,
             "6_to_12_months", status="returned",
             comment="Précisez le public visé (niveaux, nombre de collèges) et ce que vous attendez des "
                     "entreprises : un outil, un service d'accompagnement ?"),
    DemoNeed("region", "Développer le covoiturage domicile-travail vers les zones rurales",
             "Les zones rurales sont mal desservies par les transports collectifs ; les actifs dépendent de leur "
             "voiture.", "Une offre de covoiturage fiable, y compris aux heures creuses.", (MOB,), "services",
             300000, "12_to_24_months", ("60000000-8",), experimentation=True),
    DemoNeed("region", "Réduire la consommation d'énergie des lycées",
             "Les lycées représentent la moitié de la consommation d'énergie de la Région.",
             "Un pilotage fin du chauffage et des usages, mesuré lycée par lycée.", (ENE, EDU), "works", 900000,
             "over_24_months", ("45331000-6",)),
    DemoNeed("region", "Orienter les lycéens vers les métiers qui recrutent",
             "Les lycéens connaissent mal les métiers de la région et les formations qui y mènent.",
             "Des outils d'orientation immersifs, utilisables en classe.", (EDU, NUM), "services", 150000,
             "6_to_12_months", status="submitted"),
    DemoNeed("chu", "Fluidifier le parcours des patients aux urgences",
             "Les temps d'attente aux urgences dépassent quatre heures aux pics d'activité.",
             "Une meilleure anticipation des afflux et une orientation plus rapide des patients.", (SAN, NUM),
             "services", 400000, "12_to_24_months", confidential=True, experimentation=True,
             constraints={"constraint_data_protection": "Données de santé : hébergement HDS obligatoire.",
                          "constraint_interoperability": "Interfaçage avec le dossier patient (HL7/FHIR)."}),
    DemoNeed("chu", "Réduire le gaspillage alimentaire dans les services hospitaliers",
             "Près d'un tiers des repas servis aux patients sont jetés.",
             "Une commande de repas ajustée aux besoins et une mesure du gaspillage.", (ENV, SAN), "services",
             80000, "6_to_12_months", ("55321000-6",)),
    DemoNeed("chu", "Localiser les équipements médicaux mobiles",
             "Les soignants perdent du temps à chercher pompes, fauteuils et moniteurs.",
             "Une localisation en temps réel des équipements dans les bâtiments.", (SAN, NUM), "goods", 250000,
             "6_to_12_months", ("33100000-1",), non_tech=False, status="submitted"),
    DemoNeed("amiens", "Piloter l'arrosage des espaces verts selon la météo",
             "L'arrosage des parcs suit un calendrier fixe, y compris les jours de pluie.",
             "Une baisse de 30 % de l'eau utilisée pour l'arrosage.", (ENV,), "goods", 70000, "under_6_months",
             ("42122000-0",), experimentation=True),
    DemoNeed("amiens", "Faciliter le stationnement en centre-ville",
             "Les automobilistes tournent pour trouver une place, ce qui encombre le centre-ville.",
             "Une information en temps réel sur les places libres et un paiement simplifié.", (MOB, NUM), "services",
             160000, "12_to_24_months"),
    DemoNeed("amiens", "Recueillir l'avis des habitants sur les projets de quartier",
             "Les réunions publiques attirent peu de monde et toujours les mêmes personnes.",
             "Des outils de participation qui touchent les jeunes et les actifs.", (USA,), "services", 30000,
             "under_6_months", status="draft"),
    DemoNeed("univ", "Réduire la consommation électrique des salles informatiques",
             "Les salles de TP restent allumées la nuit et les postes sont anciens.",
             "Des économies d'énergie mesurées et un renouvellement plus sobre.", (ENE, NUM), "goods", 200000,
             "12_to_24_months", ("30200000-1",)),
    DemoNeed("univ", "Accompagner les étudiants en situation de handicap",
             "Les aménagements d'examens et de cours sont organisés au cas par cas, souvent tardivement.",
             "Des outils d'accessibilité des cours et un suivi des aménagements.", (EDU, SAN), "services", 90000,
             "6_to_12_months", constraints={"constraint_accessibility": "RGAA niveau AA et compatibilité avec les "
                                                                       "lecteurs d'écran."}),
    DemoNeed("sdis", "Prévenir les feux de végétation",
             "Les départs de feu dans les espaces naturels sont détectés tardivement, surtout la nuit.",
             "Une détection précoce et une localisation précise des départs de feu.", (SEC, ENV), "goods", 300000,
             "12_to_24_months", ("35111000-5",), experimentation=True, non_tech=False),
    DemoNeed("sdis", "Former les sapeurs-pompiers volontaires à distance",
             "Les volontaires ont peu de temps pour se former en centre de formation.",
             "Des modules de formation à distance et des mises en situation réalistes.", (SEC, EDU), "services",
             120000, "6_to_12_months"),
    DemoNeed("rectorat", "Lutter contre le harcèlement scolaire",
             "Les situations de harcèlement, y compris en ligne, sont signalées tard par les élèves.",
             "Des outils de signalement et de prévention adaptés aux collégiens.", (EDU, SEC), "services", 100000,
             "6_to_12_months", confidential=True),
    DemoNeed("dreal", "Mesurer la biodiversité des cours d'eau",
             "Les inventaires de terrain sont coûteux et ne couvrent qu'une partie des cours d'eau.",
             "Des méthodes de suivi moins coûteuses et reproductibles (ADN environnemental, capteurs).", (ENV,),
             "services", 180000, "12_to_24_months", ("90711000-4",), experimentation=True),
)

# Company names, departments and what they do: (name, department, NAF, specialty themes, solutions).
COMPANIES: tuple[tuple[str, str, str, tuple[int, ...], tuple[tuple[str, str, str, int | None, str], ...]], ...] = (
    ("Vélocompte SAS", "59", "26.51B", (MOB, NUM), (
        ("Vélocompte Radar", "Compteur de vélos et piétons par radar, sans image, alimenté par panneau solaire.",
         "product", 8, "on_sale"),
        ("Vélocompte Open Data", "Plateforme qui publie les comptages en données ouvertes, en temps réel.",
         "product", 7, "pilot"))),
    ("Lumen Nord", "59", "27.40Z", (ENE,), (
        ("Lumen Détect", "Luminaires à détection de présence qui abaissent l'éclairage quand personne ne passe.",
         "product", 9, "on_sale"),
        ("Lumen Diag", "Audit de l'éclairage public par relevé nocturne embarqué.", "process", 7, "on_sale"))),
    ("Recyclo Hauts-de-France", "62", "38.11Z", (ENV,), (
        ("Recyclo Sentinelle", "Capteurs de remplissage pour conteneurs et alertes de dépôts sauvages.",
         "product", 7, "pilot"),
        ("Recyclo Tournées", "Optimisation des tournées de collecte selon le remplissage réel.", "process", 8,
         "on_sale"))),
    ("Air&Classe", "59", "26.51A", (EDU, SAN, ENE), (
        ("Air&Classe Capteur", "Capteur de CO2 à voyant lumineux pour les salles de classe.", "product", 9,
         "on_sale"),
        ("Air&Classe Suivi", "Tableau de bord de la qualité de l'air par école, pour les services techniques.",
         "product", 7, "pilot"))),
    ("Inscrivo", "59", "62.01Z", (EDU, USA, NUM), (
        ("Inscrivo Familles", "Portail famille accessible sur téléphone pour les inscriptions périscolaires.",
         "product", 9, "on_sale"),
        ("Inscrivo Connect", "Connecteurs avec les logiciels de facturation des collectivités.", "process", 8,
         "on_sale"))),
    ("Parlons Ensemble", "59", "74.30Z", (USA,), (
        ("Interprète à la demande", "Interprétariat par visioconférence en 30 langues en moins d'une minute.",
         "organisation", None, "on_sale"),
        ("Accueil Pictos", "Kit de communication par pictogrammes pour les guichets.", "marketing", None,
         "on_sale"))),
    ("Cours Oasis", "80", "81.30Z", (ENV, EDU), (
        ("Cour Oasis", "Désimperméabilisation de cours d'écoles avec les élèves, en deux semaines de chantier.",
         "process", None, "on_sale"),
        ("Sol Frais", "Revêtement drainant et clair à base de matériaux recyclés.", "product", 7, "pilot"))),
    ("File Juste", "62", "62.01Z", (USA, NUM), (
        ("File Juste RDV", "Prise de rendez-vous qui empêche la revente des créneaux (file d'attente équitable).",
         "product", 8, "on_sale"),
        ("File Juste Borne", "Borne d'accueil et appel des usagers par SMS.", "product", 9, "on_sale"))),
    ("Watt Watchers", "59", "71.12B", (ENE, NUM), (
        ("Watt Carto", "Classement énergétique d'un parc de bâtiments à partir des factures et du cadastre.",
         "process", 7, "on_sale"),
        ("Watt Box", "Boîtier de télérelève des compteurs et détection des dérives.", "product", 8, "on_sale"))),
    ("Achat Agile", "75", "62.01Z", (NUM,), (
        ("Achat Agile Recensement", "Outil collaboratif de recensement des besoins d'achat.", "product", 8,
         "on_sale"),)),
    ("Mobi Partage", "59", "49.39B", (MOB, ENV), (
        ("Flotte Partagée", "Autopartage de véhicules de service électriques entre administrations.",
         "organisation", None, "on_sale"),
        ("Vélo de Service", "Flotte de vélos à assistance électrique pour les agents, avec maintenance.",
         "organisation", None, "on_sale"))),
    ("Veille Sénior", "59", "86.90D", (SAN, USA), (
        ("Veille Sénior Capteurs", "Capteurs d'activité non intrusifs (sans caméra) pour le domicile.",
         "product", 7, "pilot"),
        ("Veille Sénior Lien", "Coordination des aidants et alertes aux services d'aide à domicile.",
         "organisation", None, "on_sale"))),
    ("Structura Monitoring", "60", "71.20B", (SEC, NUM), (
        ("Structura Fibre", "Surveillance des ouvrages d'art par fibre optique instrumentée.", "product", 7,
         "pilot"),
        ("Structura Drone", "Inspection des ponts par drone et analyse automatique des fissures.", "process", 6,
         "pilot"))),
    ("Raccroche", "59", "85.59B", (EDU,), (
        ("Raccroche Mentorat", "Mentorat de collégiens par des étudiants, suivi en ligne.", "organisation",
         None, "on_sale"),)),
    ("Covoit'Rural", "02", "49.39B", (MOB,), (
        ("Covoit'Rural Ligne", "Lignes de covoiturage à horaires fixes, sans réservation.", "organisation", None,
         "on_sale"),
        ("Covoit'Rural Garantie", "Retour garanti en taxi si aucun conducteur n'est disponible.", "marketing",
         None, "pilot"))),
    ("Thermo Lycée", "62", "43.22B", (ENE, EDU), (
        ("Régulation pièce par pièce", "Têtes thermostatiques connectées pilotées selon l'emploi du temps.",
         "product", 8, "on_sale"),)),
    ("Orientation 360", "59", "58.29C", (EDU, NUM), (
        ("Métiers en réalité virtuelle", "Visites immersives d'entreprises de la région en classe.", "product", 7,
         "on_sale"),)),
    ("Urgences Flux", "59", "62.01Z", (SAN, NUM), (
        ("Prévision des afflux", "Prévision des arrivées aux urgences à 72 heures.", "product", 6, "pilot"),
        ("Orientation patient", "Aide au tri et à l'orientation des patients dès l'accueil.", "process", 5,
         "prototype"))),
    ("Zéro Reste", "59", "56.29A", (ENV, SAN), (
        ("Pesée des restes", "Balance connectée et analyse du gaspillage par service.", "product", 8, "on_sale"),
        ("Commande ajustée", "Commande de repas au lit du patient sur tablette.", "process", 7, "pilot"))),
    ("Loca Santé", "59", "26.30Z", (SAN, NUM), (
        ("Loca Santé Balises", "Localisation des équipements par balises basse consommation.", "product", 9,
         "on_sale"),)),
    ("Aqua Pilot", "80", "28.30Z", (ENV,), (
        ("Aqua Pilot Vanne", "Programmateur d'arrosage relié aux prévisions météo et à l'humidité du sol.",
         "product", 9, "on_sale"),
        ("Aqua Pilot Sonde", "Sondes d'humidité du sol sans fil pour espaces verts.", "product", 8, "on_sale"))),
    ("Place Libre", "80", "63.11Z", (MOB, NUM), (
        ("Place Libre Capteurs", "Capteurs de places de stationnement et guidage par application.", "product", 8,
         "on_sale"),
        ("Place Libre Paiement", "Paiement du stationnement à la minute par téléphone.", "product", 9,
         "on_sale"))),
    ("Civic Lab", "59", "70.21Z", (USA,), (
        ("Civic Lab Quartier", "Concertation en ligne et en porte-à-porte pour les projets de quartier.",
         "organisation", None, "on_sale"),)),
    ("Sobriété Numérique", "59", "62.02A", (ENE, NUM), (
        ("Extinction automatique", "Extinction et réveil des postes informatiques selon l'usage.", "product", 9,
         "on_sale"),
        ("Reconditionné garanti", "Postes informatiques reconditionnés dans la région, garantis trois ans.",
         "organisation", None, "on_sale"))),
    ("Access'Cours", "59", "62.01Z", (EDU, SAN), (
        ("Cours accessibles", "Transcription et adaptation automatiques des supports de cours.", "product", 7,
         "pilot"),)),
    ("Feu Vigie", "62", "26.70Z", (SEC, ENV), (
        ("Vigie Caméras thermiques", "Détection de fumées et de départs de feu par caméras thermiques.",
         "product", 8, "on_sale"),
        ("Vigie Capteurs", "Capteurs de gaz en forêt reliés par réseau bas débit.", "product", 6, "pilot"))),
    ("Simu Secours", "62", "85.59A", (SEC, EDU), (
        ("Simulateur d'intervention", "Mises en situation d'intervention en réalité virtuelle.", "product", 7,
         "on_sale"),
        ("Formation mobile", "Modules de formation courts sur téléphone.", "product", 8, "on_sale"))),
    ("Bienveillance Numérique", "59", "62.01Z", (EDU, SEC), (
        ("Alerte Harcèlement", "Application de signalement anonyme pour les collégiens.", "product", 7, "pilot"),
        ("Ateliers empathie", "Ateliers de prévention animés en classe.", "organisation", None, "on_sale"))),
    ("ADN Rivières", "59", "72.19Z", (ENV,), (
        ("ADN environnemental", "Inventaire des espèces par analyse de l'ADN prélevé dans l'eau.", "process", 7,
         "on_sale"),)),
    ("Data Territoires", "59", "63.11Z", (NUM, MOB), (
        ("Entrepôt de données territoriales", "Plateforme qui rassemble et publie les données des capteurs "
         "urbains.", "product", 8, "on_sale"),
        ("Tableaux de bord citoyens", "Tableaux de bord publics de la mobilité.", "product", 8, "on_sale"))),
    ("Info Voyageurs Simples", "59", "62.01Z", (MOB, USA), (
        ("Messages en FALC", "Rédaction automatique des alertes de perturbation en langage simple.", "product", 6,
         "pilot"),
        ("Écrans adaptés", "Affichage des perturbations en gros caractères et pictogrammes.", "product", 8,
         "on_sale"))),
    ("Éco Chantiers", "60", "43.99C", (ENV, ENE), (
        ("Chantier bas carbone", "Méthode de chantier de rénovation à faible émission.", "process", None,
         "on_sale"),)),
    ("Bâti Sensible", "62", "71.12B", (ENE,), (
        ("Thermographie par drone", "Repérage des déperditions de chaleur des toitures par drone.", "process", 8,
         "on_sale"),
        ("Jumeau thermique", "Modèle numérique du bâtiment pour simuler les travaux.", "product", 6, "pilot"))),
    ("Santé Domicile Connect", "80", "86.90F", (SAN,), (
        ("Téléassistance nouvelle génération", "Détection de chute sans bracelet par capteurs radar.",
         "product", 7, "pilot"),)),
    ("Propreté Urbaine Innov", "59", "81.29A", (ENV, SEC), (
        ("Caméra nomade anti-dépôts", "Caméras nomades et signalement des dépôts sauvages.", "product", 8,
         "on_sale"),
        ("Médiation propreté", "Médiateurs de rue et campagnes de sensibilisation.", "marketing", None,
         "on_sale"))),
    ("Mobilité Inclusive", "59", "88.99B", (MOB, USA), (
        ("Accompagnement mobilité", "Accompagnement des personnes fragiles dans leurs déplacements.",
         "organisation", None, "on_sale"),)),
    ("GreenIT Lab", "69", "62.02A", (NUM, ENE), (
        ("Mesure d'empreinte numérique", "Mesure de la consommation des services numériques.", "process", 7,
         "on_sale"),)),
    ("École Connectée", "59", "58.29C", (EDU, NUM), (
        ("ENT simplifié", "Espace numérique de travail simplifié pour le primaire.", "product", 9, "on_sale"),
        ("Tablettes partagées", "Gestion de flottes de tablettes en classe.", "product", 9, "on_sale"))),
    ("Prévention Chaleur", "80", "71.12B", (ENV, SAN), (
        ("Carte des îlots de chaleur", "Cartographie fine des îlots de chaleur par satellite.", "process", 7,
         "on_sale"),)),
    ("Accueil Plus", "62", "82.20Z", (USA,), (
        ("Accueil téléphonique mutualisé", "Plateforme d'accueil téléphonique multilingue.", "organisation",
         None, "on_sale"),
        ("Rappel automatique", "Rappel des usagers au lieu de l'attente au téléphone.", "product", 9,
         "on_sale"))),
)

FIRST_NAMES = ("Julie", "Thomas", "Inès", "Mehdi", "Claire", "Antoine", "Sarah", "Nicolas", "Fatima", "Pierre",
               "Camille", "Yanis", "Emma", "Hugo", "Léa", "Karim", "Chloé", "Lucas", "Manon", "Rachid")
LAST_NAMES = ("Dupont", "Lefebvre", "Martin", "Benali", "Leroy", "Dubois", "Moreau", "Petit", "Haddad",
              "Roussel", "Lemaire", "Caron", "Vasseur", "Delattre", "Lambert", "Fournier", "Bernard", "Dumont")
FITS = (
    "Notre solution répond directement au problème décrit et a déjà été déployée chez un acheteur comparable.",
    "Nous proposons une expérimentation de trois mois sur un site pilote avant tout déploiement.",
    "La solution couvre l'essentiel du besoin ; l'interfaçage avec vos outils serait à préciser ensemble.",
    "Notre approche répond au besoin sans technologie nouvelle, par une organisation différente du service.",
)


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_text).split())


def luhn_siret(rng: random.Random) -> str:
    """A SIRET that passes the checks: a SIREN with its Luhn key, then an establishment number (NIC) whose
    key makes the 14 digits Luhn-valid. Never in La Poste's range (356000000), which has its own rule."""
    while True:
        body = str(rng.randrange(30_000_000, 99_999_999))
        siren = body + luhn.calc_check_digit(body)
        if siren.startswith("356000000"):
            continue
        nic = f"{rng.randrange(1, 999):04d}"
        siret = siren + nic + luhn.calc_check_digit(siren + nic)
        if stdnum_siret.is_valid(siret):
            return siret


def _users(password_hash: str, specs: list[tuple[str, str, Organization, Role]]) -> list[User]:
    """Demo accounts sharing one scrypt hash of the demo password: hashing it once keeps the seed fast."""
    now = clock.now()
    made = []
    for email, name, org, role in specs:
        user = User(email=email, name=name, organization=org, active=True, created_at=now, email_confirmed_at=now,
                    password_hash=password_hash)
        user.role_rows = [UserRole(role=role)]
        db.session.add(user)
        made.append(user)
    return made


def rules_pdf(year: int) -> bytes:
    """A one-page PDF (the AMI's rules document), written by hand: no PDF library needed for a demo file."""
    lines = [f"Reglement de l'appel a manifestation d'interet {year}",
             "Observatoire regional de la commande publique - Hauts-de-France",
             "Document de demonstration."]
    text = "BT /F1 14 Tf 72 760 Td 18 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def seed_needs_and_companies(cycle: Cycle, orgs: dict[str, Organization], users: dict[str, User],
                             admin: User) -> dict[str, int]:
    """Themes, ~30 needs, the AMI text and rules, ~40 registered companies: the demo during the needs
    collection. Returns counts for the audit row."""
    rng = random.Random(SEED)
    now = clock.now()
    password_hash = users["admin@demo.orcp.fr"].password_hash or ""
    themes = [Theme(cycle=cycle, name=name, position=i) for i, name in enumerate(THEMES)]
    db.session.add_all(themes)
    for key, (name, kind, department) in EXTRA_BUYERS.items():
        orgs[key] = Organization(name=name, kind=kind, department=department)
        db.session.add(orgs[key])
    authors = {"mel": users["acheteur@demo.orcp.fr"], "lille": users["acheteuse.lille@demo.orcp.fr"]}
    others = [*EXTRA_BUYERS, "prefecture", "pfra"]
    extra = _users(password_hash, [(f"acheteur.{key}@demo.orcp.fr", f"{rng.choice(FIRST_NAMES)} "
                                    f"{rng.choice(LAST_NAMES)} ({orgs[key].name})", orgs[key], Role.BUYER)
                                   for key in others])
    authors.update(zip(others, extra, strict=True))

    collection_opened = cycle.window("needs_collection").opens_at
    for index, spec in enumerate(NEEDS):
        author = authors[spec.buyer]
        created = collection_opened + timedelta(days=1 + index % 20, hours=index % 7)
        submitted = None if spec.status == "draft" else min(created + timedelta(days=1), now)
        need = Need(cycle=cycle, organization=orgs[spec.buyer], author=author, status=spec.status,
                    title=spec.title, problem=spec.problem, context=spec.context, expected_outcomes=spec.outcomes,
                    environmental_social=None, estimated_value=Decimal(spec.value) if spec.value else None,
                    procurement_category=spec.category, cpv_codes=list(spec.cpv), purchase_horizon=spec.horizon,
                    expected_consultation_on=date(2018 if spec.horizon in ("12_to_24_months", "over_24_months")
                                                  else 2017, 10, 1),
                    open_to_experimentation=spec.experimentation, non_technological_welcome=spec.non_tech,
                    confidential=spec.confidential, contact_name=author.name, contact_email=author.email,
                    created_at=created, updated_at=submitted or created, submitted_at=submitted,
                    qualified_at=submitted + timedelta(days=2) if spec.status in ("accepted", "returned") else None,
                    qualification_comment=spec.comment, **(spec.constraints or {}))
        need.themes = [themes[t] for t in spec.themes]
        db.session.add(need)

    ami, _changed = ami_service.save_text(cycle, ami_service.default_texts(cycle), actor=admin)
    uploads.save_upload(FileStorage(io.BytesIO(rules_pdf(cycle.year)), filename=f"Règlement AMI {cycle.year}.pdf"),
                        ami, admin)

    companies = []
    for name, department, naf, _themes, _solutions in COMPANIES:
        siret = luhn_siret(rng)
        org = Organization(name=name, kind=OrganizationKind.COMPANY, department=department, siret=siret,
                           siren=siret[:9])
        headcount = Decimal(rng.choice((2, 4, 7, 9, 12, 18, 25, 40, 60, 120, 300)))
        turnover = Decimal(int(headcount) * rng.randrange(60_000, 140_000))
        balance = (turnover * Decimal("0.6")).quantize(Decimal("0.01"))
        size = size_category(headcount, turnover, balance)
        company = Company(organization=org, address=f"{rng.randrange(1, 120)} rue de l'Innovation",
                          postal_code=f"{department}{rng.randrange(0, 999):03d}"[:5], city=None,
                          website=f"https://www.{slug(name)}.fr", naf_code=naf,
                          created_on=date(rng.randrange(2005, 2016), rng.randrange(1, 13), 1), fiscal_year=2016,
                          headcount=headcount, turnover=turnover, balance_sheet=balance, declared_size=size,
                          computed_size=size, young_innovative_company=rng.random() < 0.3,
                          created_at=now - timedelta(days=rng.randrange(1, 25)), updated_at=now)
        db.session.add(company)
        companies.append(company)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        _users(password_hash, [(f"{slug(first)}.{slug(last)}@{slug(name)}.demo.orcp.fr", f"{first} {last}", org,
                                Role.COMPANY)])
    db.session.flush()
    return {"themes": len(themes), "needs": len(NEEDS), "companies": len(companies)}


def seed_answers(cycle: Cycle, admin: User) -> int:
    """About 80 answers, once the AMI is open: submitted between its opening and now, some drafts, some
    screened by the secretariat, a few withdrawn."""
    if not ami_service.is_open(cycle):
        raise RuntimeError("answers can only be seeded while the AMI is open")
    rng = random.Random(SEED + 1)
    now = clock.now()
    opened = cycle.window("ami_sourcing").opens_at
    accepted = [n for n in db.session.query(Need).filter(Need.cycle_id == cycle.id, Need.status == "accepted")
                .order_by(Need.id)]
    by_theme: dict[str, list[Need]] = {}
    for need in accepted:
        for theme in need.themes:
            by_theme.setdefault(theme.name, []).append(need)
    orgs = {o.name: o for o in db.session.query(Organization).filter(Organization.kind == OrganizationKind.COMPANY)}
    made = 0
    for name, _department, _naf, themes, solutions in COMPANIES:
        company = db.session.query(Company).filter(Company.organization_id == orgs[name].id).one()
        author = db.session.query(User).filter(User.organization_id == orgs[name].id).first()
        # Needs of the company's main theme first; its other themes only when the main one has none.
        primary = by_theme.get(THEMES[themes[0]], [])
        candidates = primary or [n for t in themes for n in by_theme.get(THEMES[t], [])] or accepted
        candidates = sorted(set(candidates), key=lambda n: n.id)
        # Each solution is one answer; a company with a single solution answers two needs separately.
        offers = list(solutions) if len(solutions) > 1 else [solutions[0], solutions[0]]
        answered: set[int] = set()
        for solution, summary, kind, trl, market in offers:
            fresh = [n for n in candidates if n.id not in answered] or candidates
            targets = rng.sample(fresh, k=min(len(fresh), rng.choice((1, 1, 2))))
            answered.update(n.id for n in targets)
            roll = rng.random()
            status = ("draft" if roll < 0.08 else "withdrawn" if roll < 0.12 else "eligible" if roll < 0.30
                      else "ineligible" if roll < 0.33 else "submitted")
            created = opened + timedelta(days=rng.randrange(0, max(1, (now - opened).days)), hours=rng.randrange(8, 18))
            created = min(created, now - timedelta(hours=1))
            submitted = None if status == "draft" else min(created + timedelta(hours=rng.randrange(1, 72)), now)
            application = Application(
                cycle=cycle, company=company, author=author, status=status, solution_name=solution, summary=summary,
                description=f"{summary} La solution est conçue et fabriquée dans les Hauts-de-France.",
                innovation_kinds=[kind], novelty="Première solution de ce type proposée aux acheteurs publics "
                                                 "de la région.",
                evidence=rng.choice(("Lauréat du concours i-Nov.", "Label French Tech.", "Brevet déposé en 2016.",
                                     "Références : deux collectivités clientes.")),
                trl=trl, trl_not_applicable=trl is None, market_status=market,
                pricing_model=rng.choice(("Abonnement annuel", "Achat et maintenance", "Prix par site")),
                indicative_price=f"{rng.randrange(5, 90) * 1000} € HT par an",
                team=f"{int(company.headcount or 1)} personnes", sworn_statement=status != "draft",
                data_consent=status != "draft",
                eligibility_reason=("Entreprise et solution conformes aux conditions de l'AMI."
                                    if status == "eligible" else
                                    "La solution proposée n'est pas innovante au sens de l'AMI."
                                    if status == "ineligible" else None),
                created_at=created, updated_at=submitted or created, submitted_at=submitted)
            application.targets = [ApplicationNeed(need=n, fit=rng.choice(FITS)) for n in targets]
            db.session.add(application)
            made += 1
    db.session.flush()
    audit.record("demo.seed_answers", cycle, after={"answers": made}, actor=None)
    return made


def move_to_ami(cycle: Cycle, admin: User) -> None:
    """Move the demo to 20 April 2017, the AMI open for ten days already."""
    from innovation_cycle.services import cycles

    clock.simulate(clock.paris_datetime(*AMI_DEMO_DAY))
    cycles.move(cycle.id, "advance", expected_state="needs_collection", actor=admin)



# --- Issue 7, items 6-10: the cycle in selection ------------------------------------------------------------

SELECTION_DEMO_DAY = (2017, 6, 26, 9, 0)
# The grid the issue proposes: six criteria on a 0–4 scale, each level worded.
DEMO_GRID = [
    ("Degré d'innovation (art. L2172-3)", "Nouveauté du produit, du procédé ou de la méthode pour les acheteurs.", 3.0),
    ("Adéquation aux besoins visés", "La solution répond-elle au problème exprimé par l'acheteur ?", 3.0),
    ("Maturité (TRL et commercialisation)", "TRL, pilotes, clients payants, références publiques.", 2.0),
    ("Capacité de l'entreprise à livrer", "Équipe, solidité financière, capacité à passer à l'échelle.", 2.0),
    ("Crédibilité du coût", "Prix indicatif cohérent avec la valeur et le marché.", 1.0),
    ("Impact environnemental et social", "Sobriété, accessibilité, emploi local.", 1.0),
]
LEVELS = ["Insuffisant", "Faible", "Moyen", "Bon", "Excellent"]
# The committee of the source document's partners: the State (préfecture, PFRA), UGAP, the MEL, the city of
# Lille and EuraTechnologies (already there: comite@demo.orcp.fr).
DEMO_COMMITTEE = [
    ("comite.prefecture@demo.orcp.fr", "Hélène Comité (Préfecture, SGAR)", "Préfecture de la région Hauts-de-France"),
    ("comite.pfra@demo.orcp.fr", "Marc Comité (PFRA)", "Plateforme régionale des achats de l'État"),
    ("comite.ugap@demo.orcp.fr", "Isabelle Comité (UGAP)", "UGAP"),
    ("comite.mel@demo.orcp.fr", "Thomas Comité (MEL)", "Métropole européenne de Lille"),
    ("comite.lille@demo.orcp.fr", "Julie Comité (Ville de Lille)", "Ville de Lille"),
]


def move_to_selection(cycle: Cycle, admin: User, password_hash: str) -> dict[str, int]:
    """Move the demo to 26 June 2017: the AMI closed, the answers screened, the cycle in selection with its
    committee, grid, assignments, most reviews submitted (a few disagreements, one conflict) and the
    committee's meeting scheduled for 6 July."""
    from innovation_cycle.models import CommitteeMember, Meeting
    from innovation_cycle.models.reviews import Assignment, Conflict, Criterion, Review, Score, SelectionSettings
    from innovation_cycle.services import cycles

    rng = random.Random(SEED + 7)
    clock.simulate(clock.paris_datetime(*SELECTION_DEMO_DAY))
    now = clock.now()
    # The secretariat screened every submitted answer: most are eligible.
    for application in db.session.query(Application).filter(Application.cycle_id == cycle.id,
                                                            Application.status == "submitted"):
        eligible = rng.random() < 0.85
        application.status = "eligible" if eligible else "ineligible"
        application.eligibility_reason = ("Entreprise et solution conformes aux conditions de l'AMI." if eligible
                                          else "La solution proposée n'est pas innovante au sens de l'AMI.")
    db.session.flush()
    cycles.move(cycle.id, "advance", expected_state="ami_sourcing", actor=admin)

    orgs = {o.name: o for o in db.session.query(Organization)}
    members = [m.user for m in cycle.committee if m.user.has_role(Role.COMMITTEE_MEMBER)]
    for email, name, org_start in DEMO_COMMITTEE:
        org = next(o for n, o in orgs.items() if n.startswith(org_start))
        user = _users(password_hash, [(email, name, org, Role.COMMITTEE_MEMBER)])[0]
        db.session.flush()
        cycle.committee.append(CommitteeMember(user_id=user.id))
        members.append(user)
    db.session.flush()
    criteria = [Criterion(cycle_id=cycle.id, position=i, label=label, help_text=help_text, weight=weight,
                          scale_min=0, scale_max=4, level_labels=LEVELS)
                for i, (label, help_text, weight) in enumerate(DEMO_GRID)]
    db.session.add_all(criteria)
    db.session.add(SelectionSettings(cycle_id=cycle.id, reviewers_per_answer=3, disagreement_threshold=1.5,
                                     reviews_close_at=clock.paris_datetime(2017, 7, 4, 23, 59),
                                     assignments_confirmed_at=now - timedelta(days=40)))
    eligible = list(db.session.query(Application).filter(Application.cycle_id == cycle.id,
                                                         Application.status == "eligible").order_by(Application.id))
    # One conflict: EuraTechnologies' member coaches the first eligible company in its incubator.
    euratech_member = next(m for m in members if m.email == "comite@demo.orcp.fr")
    conflicted = eligible[0].company_id if eligible else None
    if conflicted is not None:
        db.session.add(Conflict(cycle_id=cycle.id, user_id=euratech_member.id, company_id=conflicted,
                                source="declared", reason="La startup est accompagnée par notre incubateur.",
                                created_at=now - timedelta(days=45)))
    db.session.flush()
    for c in criteria:
        db.session.refresh(c)
    reviews = disagreements = 0
    for index, application in enumerate(eligible):
        allowed = [m for m in members if not (m.id == euratech_member.id and application.company_id == conflicted)]
        reviewers = [allowed[(index * 3 + k) % len(allowed)] for k in range(3)]
        reviewers = list(dict.fromkeys(reviewers))
        quality = rng.uniform(1.0, 3.6)
        split = index % 7 == 3  # a disagreement: one reviewer far from the others
        disagreements += split
        for k, reviewer in enumerate(reviewers):
            db.session.add(Assignment(cycle_id=cycle.id, application_id=application.id, user_id=reviewer.id,
                                      status="confirmed", created_at=now - timedelta(days=40)))
            done = rng.random() < 0.85
            at = now - timedelta(days=rng.randrange(1, 30))
            review = Review(cycle_id=cycle.id, application_id=application.id, reviewer_id=reviewer.id,
                            status="submitted" if done else "draft", created_at=at, updated_at=at,
                            submitted_at=at if done else None)
            base = (4.0 - quality + 0.2) if split and k == 0 else quality
            for criterion in criteria:
                value = max(0, min(4, round(base + rng.uniform(-0.8, 0.8))))
                review.scores.append(Score(criterion_id=criterion.id, value=value))
            mean = base
            review.recommendation = ("select" if mean >= 2.8 else "discuss" if mean >= 1.8 else "reject") if done \
                else None
            review.committee_comment = "Solution solide, à confronter aux acheteurs." if mean >= 2.5 else \
                "Maturité encore faible."
            review.company_comment = ("Précisez vos références publiques et le coût complet sur trois ans."
                                      if mean < 2.5 else "Dossier clair ; prévoyez une démonstration.")
            db.session.add(review)
            reviews += done
    meeting = Meeting(cycle_id=cycle.id, title="Séance du comité de pilotage — sélection 2017",
                      scheduled_at=clock.paris_datetime(2017, 7, 6, 14, 0),
                      location="Préfecture de région, Lille — salle Vauban", status="scheduled",
                      created_at=now - timedelta(days=20))
    db.session.add(meeting)
    db.session.flush()
    audit.record("demo.seed_selection", cycle, after={"eligible": len(eligible), "reviews": reviews,
                                                      "disagreements": disagreements}, actor=None)
    return {"eligible": len(eligible), "reviews": reviews}


# --- Issue 8, item 8: the census (stage 4) and the results (stage 5) -----------------------------------------
#
# From the selection demo: the committee's meeting of 6 July decides every eligible answer (a third selected,
# for the needs they target, so that each buyer the walk names has a shortlist), the decisions are released on
# 10 July, the census opens on 1 August (PFRA phase) and UGAP's phase on 1 September, as the calendar says.
# The decisions are written directly, as the selection demo writes its reviews; the commitments, their moves
# and the bilan go through the services, with the simulated clock set to each day they happen, so that their
# rules (selected answers only, phases, procedure advice, contract data) and audit rows are the real ones.

DECISION_DAY = (2017, 7, 6, 14, 0)
RELEASE_DAY = (2017, 7, 10, 9, 0)
CENSUS_OPENS = (2017, 8, 1, 9, 0)
CENSUS_DEMO_DAY = (2017, 9, 11, 9, 0)
RESULTS_OPENS = (2017, 10, 2, 9, 0)
RESULTS_DEMO_DAY = (2017, 10, 17, 9, 0)
SELECTED_SHARE = 0.3
# The buyers the demo's commitments name: each gets a solution selected for one of its needs when an eligible
# answer targets one.
SHORTLISTED_BUYERS = ("mel", "lille", "region", "chu", "dreal", "rectorat", "prefecture")
# UGAP's national clients, outside the region (added by the UGAP agent, SIRET checked).
UGAP_CLIENTS = (("Centre hospitalier universitaire de Bordeaux", "33"), ("Métropole de Lyon", "69"))
# The PFRA's purchases of 2017, the 2% objective's denominator: a made-up figure, said so in its source.
DEMO_PURCHASES = Decimal("3150000")
DEMO_PURCHASES_SOURCE = ("Démonstration : montant fictif des achats notifiés par la PFRA Hauts-de-France en 2017 "
                         "(à remplacer par le chiffre de son rapport d'activité)")
RATIONALES = {
    "selected": "Solution innovante et mature, au coût crédible, qui répond au besoin de l'acheteur.",
    "waiting_list": "Solution intéressante, à reconsidérer si un acheteur se désiste.",
    "not_selected": "Le comité a retenu des solutions plus adaptées aux besoins exprimés.",
}


def _day(month: int, day: int, hour: int = 10) -> None:
    clock.simulate(clock.paris_datetime(2017, month, day, hour, 0))


def release_decisions(cycle: Cycle, admin: User, orgs: dict[str, Organization]) -> dict[str, int]:
    """The committee's meeting of 6 July (every member present) decides every eligible answer; the decisions
    are released to the companies and the buyers on 10 July; about two thirds of the selected companies agree
    to be named on the public results page."""
    from sqlalchemy import select

    from innovation_cycle.models import Attendance, Decision, DecisionNeed, Meeting
    from innovation_cycle.models.reviews import SelectionSettings
    from innovation_cycle.services import commitments as census
    from innovation_cycle.services import ranking

    clock.simulate(clock.paris_datetime(*DECISION_DAY))
    now = clock.now()
    released_at = clock.paris_datetime(*RELEASE_DAY)
    meeting = db.session.scalars(select(Meeting).where(Meeting.cycle_id == cycle.id)).one()
    for member in cycle.committee:
        meeting.attendance.append(Attendance(user_id=member.user_id, organization_id=member.user.organization_id,
                                             present=True))
    meeting.status, meeting.opened_at, meeting.closed_at = "closed", now, now + timedelta(hours=3)

    lines = [line for line in ranking.rank(cycle, ranking.RankingFilters(), None, per_page=None).lines
             if line.status == "eligible"]
    ordered = sorted(lines, key=lambda line: (-(line.score if line.score is not None else -1), line.application_id))
    targets: dict[int, list[tuple[int, int]]] = {}
    for application_id, need_id, org_id in db.session.execute(
            select(ApplicationNeed.application_id, Need.id, Need.organization_id)
            .join(Need, Need.id == ApplicationNeed.need_id)
            .where(Need.cycle_id == cycle.id, Need.status == "accepted").order_by(Need.id)):
        targets.setdefault(application_id, []).append((need_id, org_id))
    quota = max(1, round(len(ordered) * SELECTED_SHARE))
    selected = [line.application_id for line in ordered[:quota] if targets.get(line.application_id)]
    covered = {org for a in selected for _need, org in targets[a]}
    for key in SHORTLISTED_BUYERS:
        if key not in orgs or orgs[key].id in covered:
            continue
        best = next((line.application_id for line in ordered if line.application_id not in selected
                     and any(org == orgs[key].id for _need, org in targets.get(line.application_id, []))), None)
        if best is not None:
            selected.append(best)
            covered.update(org for _need, org in targets[best])
    waiting = [line.application_id for line in ordered[quota:quota + 3] if line.application_id not in selected]
    for line in ordered:
        outcome = ("selected" if line.application_id in selected else
                   "waiting_list" if line.application_id in waiting else "not_selected")
        decision = Decision(cycle_id=cycle.id, application_id=line.application_id, meeting_id=meeting.id,
                            outcome=outcome, rationale=RATIONALES[outcome], decided_at=now, decided_by_id=admin.id,
                            released_at=released_at)
        if outcome == "selected":
            decision.needs = [DecisionNeed(need_id=need_id) for need_id, _org in targets[line.application_id]]
        db.session.add(decision)
        if outcome != "waiting_list":
            application = db.session.get(Application, line.application_id)
            application.status, application.updated_at = outcome, now
    db.session.get(SelectionSettings, cycle.id).decisions_released_at = released_at
    db.session.flush()
    audit.record("demo.seed_decisions", cycle, after={"selected": len(selected), "waiting_list": len(waiting),
                                                      "decided": len(ordered)}, actor=None)
    clock.simulate(released_at)
    for index, application in enumerate(census.selected_answers(cycle)):
        if index % 3 != 2 and application.author is not None:
            census.set_named_in_results(application.id, application.author, True)
    return {"selected": len(selected)}


class _Census:
    """The commitments of the demo, recorded and moved through the census service as their users would."""

    def __init__(self, cycle: Cycle, orgs: dict[str, Organization]):
        from innovation_cycle.services import commitments as census

        self.census = census
        self.cycle = cycle
        self.orgs = orgs
        self.shortlist = [(a, census.shortlisted_needs(a)) for a in census.selected_answers(cycle)]
        self.used: set[int] = set()
        self.made: list[Any] = []

    def _pick(self, buyer: Organization, sme: bool) -> tuple[Application, Need | None]:
        """A selected answer for one of the buyer's needs (and that need), the least used first; else any."""
        def fits(application: Application) -> bool:
            return not sme or application.company.computed_size in ("micro", "pme")

        ranked = sorted(self.shortlist, key=lambda item: (item[0].id in self.used, item[0].id))
        for application, needs in ranked:
            own = [n for n in needs if n.organization_id == buyer.id]
            if own and fits(application):
                return application, own[0]
        application = next((a for a, _needs in ranked if fits(a)), ranked[0][0])
        return application, None

    def record(self, user: User, buyer: Organization, channel: str, amount: str, expected_on: date, *,
               quantity: int = 1, procedure: str | None = None, note: str = "", notes: str = "") -> Any:
        from innovation_cycle.services.commitments import parse_amount

        application, need = self._pick(buyer, sme=channel == self.census.UGAP_CHANNEL)
        self.used.add(application.id)
        advice = self.census.advice_for(parse_amount(amount), channel, buyer, expected_on, application)
        data = self.census.CommitmentData(
            application_id=application.id, need_id=need.id if need else None, buyer_organization_id=buyer.id,
            channel=channel, amount=amount, quantity=quantity, expected_on=expected_on,
            procedure=procedure or (advice.procedure if advice else ""), procedure_note=note, notes=notes)
        commitment = self.census.record(self.cycle, user, data)
        self.made.append(commitment)
        return commitment

    def move(self, commitment: Any, trigger: str, user: User, *, reason: str = "", contract: Any = None) -> None:
        self.census.move(commitment.id, trigger, user, expected_state=commitment.status, reason=reason,
                         contract=contract)

    def contract(self, commitment: Any, user: User, identifier: str, notified_on: date, amount: str,
                 months: int, place: str) -> None:
        need = commitment.need
        cpv = (need.cpv_codes[0] if need is not None and need.cpv_codes else "48000000-8")
        self.move(commitment, "contract", user, contract=self.census.ContractData(
            contract_identifier=identifier, contract_notified_on=notified_on, contract_amount=amount,
            contract_duration_months=months, contract_cpv=cpv, contract_place=place,
            contract_procedure=commitment.procedure or "adapted",
            holder_siret=commitment.company.organization.siret or ""))


def seed_commitments(cycle: Cycle, orgs: dict[str, Organization], users: dict[str, User]) -> int:
    """August (PFRA phase): the PFRA agent records the State's and the regional buyers' commitments, at every
    level — interest, experimentation planned, purchase commitment, procedure launched, contracted with its
    data, one abandoned with its reason —, and confirms the city of Lille's declaration. September (UGAP
    phase): the UGAP agent adds two national clients and records their purchases from SME suppliers; the MEL's
    buyer declares a commitment that waits for the PFRA's confirmation."""
    census = _Census(cycle, orgs)
    pfra, ugap = users["pfra@demo.orcp.fr"], users["ugap@demo.orcp.fr"]
    regional, internal, national = "pfra_regional", "pfra_internal", "ugap_national"

    _day(8, 3)
    census.record(pfra, orgs["lille"], regional, "18 000", date(2018, 1, 15),
                  notes="Démonstration prévue au conseil municipal de novembre.")
    _day(8, 4)
    experiment = census.record(pfra, orgs["mel"], regional, "45 000", date(2017, 12, 1), quantity=20,
                               notes="Vingt capteurs sur deux axes pendant six mois avant de décider.")
    _day(8, 7)
    committed = census.record(pfra, orgs["rectorat"], internal, "60 000", date(2017, 11, 15), quantity=12)
    _day(8, 9)
    launched = census.record(
        pfra, orgs["region"], regional, "95 000", date(2017, 10, 30), procedure="innovation_partnership",
        note="La solution doit être adaptée au réseau régional : un partenariat d'innovation couvre son "
             "développement et l'achat qui suit.")
    _day(8, 10)
    contracted = census.record(pfra, orgs["dreal"], internal, "38 000", date(2017, 9, 1))
    _day(8, 11)
    abandoned = census.record(pfra, orgs["chu"], regional, "120 000", date(2018, 3, 1))
    _day(8, 14)
    census.move(contracted, "commit", pfra)
    _day(8, 16)
    census.move(contracted, "launch_procedure", pfra)
    _day(8, 17)
    lille = census.record(users["acheteuse.lille@demo.orcp.fr"], orgs["lille"], regional, "25 000",
                          date(2017, 12, 15), notes="Déclaré par la Ville de Lille.")
    _day(8, 18)
    census.census.confirm(lille.id, pfra)
    _day(8, 21)
    census.move(experiment, "plan_experimentation", pfra)
    _day(8, 22)
    census.move(committed, "commit", pfra)
    _day(8, 23)
    census.move(launched, "commit", pfra)
    _day(8, 25)
    census.move(lille, "commit", pfra)
    _day(8, 28)
    census.move(abandoned, "abandon", pfra, reason="Le CHU a reporté le projet : ses crédits d'investissement "
                                                   "2018 sont redéployés sur la rénovation des blocs opératoires.")
    _day(8, 29)
    census.move(launched, "launch_procedure", pfra)
    _day(8, 31)
    census.contract(contracted, pfra, "2017-DREAL-014", date(2017, 8, 30), "36 500", 12, "Lille")

    _day(9, 4)  # UGAP's phase began on 1 September
    rng = random.Random(SEED + 8)
    clients = [census.census.add_client(ugap, name, luhn_siret(rng), department) for name, department in UGAP_CLIENTS]
    national_commitment = census.record(ugap, clients[0], national, "70 000", date(2017, 11, 30), quantity=3,
                                        notes="Commande par le catalogue de l'UGAP, titulaire PME de la région.")
    _day(9, 5)
    census.move(lille, "launch_procedure", pfra)
    _day(9, 6)
    census.move(national_commitment, "commit", ugap)
    _day(9, 7)
    census.record(ugap, clients[1], national, "30 000", date(2018, 2, 1))
    _day(9, 8)
    census.contract(lille, pfra, "2017-VDL-0231", date(2017, 9, 7), "24 800", 24, "Lille")
    census.record(users["acheteur@demo.orcp.fr"], orgs["mel"], regional, "15 000", date(2018, 1, 31),
                  notes="Déclaration de la MEL, à confirmer par la PFRA.")
    db.session.flush()
    return len(census.made)


def move_to_census(cycle: Cycle, admin: User, orgs: dict[str, Organization], users: dict[str, User]
                   ) -> dict[str, int]:
    """Move the selection demo to 11 September 2017: decisions released, the census open since 1 August and
    in UGAP's phase since 1 September, commitments across the three channels and every level."""
    from innovation_cycle.services import cycles

    counts = release_decisions(cycle, admin, orgs)
    clock.simulate(clock.paris_datetime(*CENSUS_OPENS))
    cycles.move(cycle.id, "advance", expected_state="selection", actor=admin)
    counts["commitments"] = seed_commitments(cycle, orgs, users)
    clock.simulate(clock.paris_datetime(*CENSUS_DEMO_DAY))
    return counts


def editorial(cycle: Cycle) -> str:
    """The bilan's editorial text, from the cycle's figures."""
    from innovation_cycle.services import results

    figures = results.bilan([cycle])[0]
    funnel = figures.funnel
    return (
        f"Premier cycle de la convention État–UGAP en Hauts-de-France : {funnel['needs_accepted']} besoins "
        f"d'innovation des acheteurs publics de la région ont été retenus par la PFRA, {funnel['answers_submitted']} "
        f"réponses d'entreprises innovantes ont été déposées à l'AMI et le comité de pilotage a retenu "
        f"{funnel['answers_selected']} solutions.\n\n"
        f"Le recensement d'août et de septembre compte {funnel['commitments']} engagements d'acheteurs, dont "
        f"{funnel['contracted']} marchés déjà notifiés ; l'UGAP a ouvert deux solutions à ses clients nationaux. "
        "Être retenu n'est pas l'attribution d'un marché : les engagements restent suivis jusqu'à la fin de la "
        "convention.\n\n"
        "Merci aux acheteurs, aux entreprises et aux membres du comité de pilotage.")


def move_to_results(cycle: Cycle, admin: User, users: dict[str, User]) -> None:
    """Move the census demo to 17 October 2017: the cycle in results communication since 2 October, the PFRA's
    purchases of 2017 entered, the bilan written, approved by the State (préfecture, PFRA) and UGAP, and
    published on 16 October (with its announcement)."""
    from innovation_cycle.services import cycles, results

    clock.simulate(clock.paris_datetime(*RESULTS_OPENS))
    cycles.move(cycle.id, "advance", expected_state="commitment_census", actor=admin)
    _day(10, 3)
    results.save_baseline(cycle.year, DEMO_PURCHASES, DEMO_PURCHASES_SOURCE, actor=admin)
    _day(10, 9)
    results.save_editorial(cycle, admin, editorial(cycle))
    for day, email in ((11, "admin@demo.orcp.fr"), (12, "pfra@demo.orcp.fr"), (13, "ugap@demo.orcp.fr")):
        _day(10, day)
        results.approve(cycle, users[email])
    _day(10, 16)
    results.publish(cycle, admin)
    clock.simulate(clock.paris_datetime(*RESULTS_DEMO_DAY))
