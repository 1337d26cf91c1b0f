"""The demo campaign: the petition with its four demands, the updates list, organisations.

Written in our own words from the campaign's press release. ``seed_demo`` is
idempotent: it creates what is missing and leaves the rest alone.
"""

from __future__ import annotations

from sqlalchemy import select

from objectwar.extensions import db
from objectwar.mailing.models import MailingList, MailingListText
from objectwar.organisations.models import Organisation, OrganisationStatus
from objectwar.petitions.models import Demand, DemandText, Petition, PetitionStatus, PetitionText

PETITION_SLUG = "protect-objectors"

PETITION_TEXTS = {
    "en": (
        "Protection and asylum for those who refuse to fight",
        "Hundreds of thousands of men have left Russia, Belarus and Ukraine rather than "
        "take part in the war. Europe must protect conscientious objectors, draft evaders "
        "and deserters instead of sending them back.",
        "Since the invasion of Ukraine at least 250,000 men liable for military service have "
        "left Russia alone. Most of them live in neighbouring countries with only temporary "
        "papers, and only a few thousand have been able to ask for asylum in the European "
        "Union. Asylum offices reject draft evaders although a return means being sent into "
        "a war that violates international law. More than a hundred organisations across "
        "Europe ask governments and the EU to act.",
    ),
    "de": (
        "Schutz und Asyl für alle, die sich dem Krieg verweigern",
        "Hunderttausende Männer haben Russland, Belarus und die Ukraine verlassen, um nicht "
        "am Krieg teilzunehmen. Europa muss Kriegsdienstverweigerer, Militärdienstentzieher "
        "und Deserteure schützen, statt sie zurückzuschicken.",
        "Seit dem Überfall auf die Ukraine haben allein aus Russland mindestens 250.000 "
        "militärdienstpflichtige Männer das Land verlassen. Die meisten leben in Nachbarländern "
        "mit nur vorübergehenden Papieren, und nur wenige tausend konnten in der Europäischen "
        "Union Asyl beantragen. Asylbehörden lehnen Militärdienstentzieher ab, obwohl ihnen bei "
        "einer Rückkehr der Einsatz in einem völkerrechtswidrigen Krieg droht. Mehr als hundert "
        "Organisationen in ganz Europa fordern Regierungen und die EU zum Handeln auf.",
    ),
    "ru": (
        "Защита и убежище для тех, кто отказывается воевать",
        "Сотни тысяч мужчин покинули Россию, Беларусь и Украину, чтобы не участвовать в войне. "
        "Европа должна защищать отказников по убеждениям, уклонистов и дезертиров, а не "
        "отправлять их обратно.",
        "С начала вторжения в Украину только из России уехали не менее 250 000 мужчин "
        "призывного возраста. Большинство из них живут в соседних странах лишь с временными "
        "документами, и только несколько тысяч смогли подать заявление об убежище в "
        "Европейском союзе. Миграционные ведомства отказывают уклонистам, хотя возвращение "
        "означает отправку на войну, нарушающую международное право. Более ста организаций "
        "по всей Европе призывают правительства и ЕС действовать.",
    ),
    "uk": (
        "Захист і притулок для тих, хто відмовляється воювати",
        "Сотні тисяч чоловіків залишили Росію, Білорусь та Україну, щоб не брати участі у війні. "
        "Європа має захищати тих, хто відмовляється від служби через переконання, ухилянтів і "
        "дезертирів, а не повертати їх назад.",
        "Від початку вторгнення в Україну лише з Росії виїхали щонайменше 250 000 чоловіків "
        "призовного віку. Більшість із них живуть у сусідніх країнах лише з тимчасовими "
        "документами, і лише кілька тисяч змогли подати заяву про притулок у Європейському "
        "Союзі. Міграційні відомства відмовляють ухилянтам, хоча повернення означає відправку "
        "на війну, що порушує міжнародне право. Понад сто організацій по всій Європі закликають "
        "уряди та ЄС діяти.",
    ),
    "be": (
        "Абарона і прытулак для тых, хто адмаўляецца ваяваць",
        "Сотні тысяч мужчын пакінулі Расію, Беларусь і Украіну, каб не ўдзельнічаць у вайне. "
        "Еўропа павінна абараняць адмоўнікаў па перакананнях, ухілістаў і дэзерціраў, а не "
        "адпраўляць іх назад.",
        "З пачатку ўварвання ва Украіну толькі з Расіі выехалі не менш за 250 000 мужчын "
        "прызыўнога ўзросту. Большасць з іх жыве ў суседніх краінах толькі з часовымі "
        "дакументамі, і толькі некалькі тысяч змаглі падаць заяву на прытулак у Еўрапейскім "
        "саюзе. Міграцыйныя ўлады адмаўляюць ухілістам, хоць вяртанне азначае адпраўку на "
        "вайну, якая парушае міжнароднае права. Больш за сто арганізацый па ўсёй Еўропе "
        "заклікаюць урады і ЕС дзейнічаць.",
    ),
}

# Position -> locale -> (title, text)
DEMANDS = {
    1: {
        "en": ("Humanitarian visas",
               "People threatened with deportation to Russia must be able to apply for admission "
               "to the EU from the country where they are now, and get humanitarian visas."),
        "de": ("Humanitäre Visa",
               "Wer von Abschiebung nach Russland bedroht ist, muss aus dem Land, in dem er sich "
               "aufhält, die Aufnahme in die EU beantragen können und humanitäre Visa erhalten."),
        "ru": ("Гуманитарные визы",
               "Людям, которым грозит депортация в Россию, нужно дать возможность подать заявку "
               "на въезд в ЕС из страны, где они находятся, и получить гуманитарную визу."),
        "uk": ("Гуманітарні візи",
               "Люди, яким загрожує депортація до Росії, мають могти подати заяву на в'їзд до ЄС "
               "з країни, де вони перебувають, і отримати гуманітарну візу."),
        "be": ("Гуманітарныя візы",
               "Людзі, якім пагражае дэпартацыя ў Расію, павінны мець магчымасць падаць заяву на "
               "ўезд у ЕС з краіны, дзе яны знаходзяцца, і атрымаць гуманітарную візу."),
    },
    2: {
        "en": ("No pushbacks",
               "Illegal pushbacks at the borders must stop. Everyone seeking protection must have "
               "access to a fair asylum procedure."),
        "de": ("Keine Pushbacks",
               "Die illegalen Zurückweisungen an den Grenzen müssen aufhören. Alle, die Schutz "
               "suchen, brauchen Zugang zu einem fairen Asylverfahren."),
        "ru": ("Никаких выдворений",
               "Незаконные выдворения на границах должны прекратиться. Каждый, кто ищет защиты, "
               "должен получить доступ к справедливой процедуре предоставления убежища."),
        "uk": ("Жодних видворень",
               "Незаконні видворення на кордонах мають припинитися. Кожен, хто шукає захисту, "
               "повинен мати доступ до справедливої процедури надання притулку."),
        "be": ("Ніякіх выдварэнняў",
               "Незаконныя выдварэнні на межах павінны спыніцца. Кожны, хто шукае абароны, "
               "павінен мець доступ да справядлівай працэдуры прадастаўлення прытулку."),
    },
    3: {
        "en": ("Protection for draft evaders, not only deserters",
               "EU countries must give asylum or another secure status to the many who evade "
               "military service, not only to deserters. Sent back, they would be recruited into "
               "a war that violates international law."),
        "de": ("Schutz auch für Militärdienstentzieher",
               "Die EU-Staaten müssen nicht nur Deserteuren, sondern auch den vielen, die sich "
               "dem Militärdienst entziehen, Asyl oder einen anderen sicheren Status geben. "
               "Zurückgeschickt würden sie für einen völkerrechtswidrigen Krieg rekrutiert."),
        "ru": ("Защита для уклонистов, а не только для дезертиров",
               "Страны ЕС должны предоставлять убежище или другой надёжный статус не только "
               "дезертирам, но и многим, кто уклоняется от службы. Вернувшись, они были бы "
               "призваны на войну, нарушающую международное право."),
        "uk": ("Захист для ухилянтів, а не лише для дезертирів",
               "Країни ЄС мають надавати притулок або інший надійний статус не лише дезертирам, "
               "а й багатьом, хто ухиляється від служби. Повернувшись, вони були б призвані на "
               "війну, що порушує міжнародне право."),
        "be": ("Абарона для ўхілістаў, а не толькі для дэзерціраў",
               "Краіны ЕС павінны даваць прытулак або іншы надзейны статус не толькі "
               "дэзерцірам, але і шматлікім, хто ўхіляецца ад службы. Вярнуўшыся, яны былі б "
               "прызваныя на вайну, якая парушае міжнароднае права."),
    },
    4: {
        "en": ("A reception programme",
               "The EU should adopt a reception programme that offers training and work to "
               "those who turned their backs on their government at great risk."),
        "de": ("Ein Aufnahmeprogramm",
               "Die EU soll ein Aufnahmeprogramm beschließen, das denen Ausbildung und Arbeit "
               "ermöglicht, die sich unter großem Risiko von ihrer Regierung abgewandt haben."),
        "ru": ("Программа приёма",
               "ЕС должен принять программу приёма, которая даст возможность учиться и работать "
               "тем, кто с большим риском отвернулся от своего правительства."),
        "uk": ("Програма прийому",
               "ЄС має ухвалити програму прийому, яка дасть змогу навчатися й працювати тим, хто "
               "з великим ризиком відвернувся від свого уряду."),
        "be": ("Праграма прыёму",
               "ЕС павінен прыняць праграму прыёму, якая дасць магчымасць вучыцца і працаваць "
               "тым, хто з вялікай рызыкай адвярнуўся ад свайго ўрада."),
    },
}

ORGANISATIONS = [
    ("connection-ev", "Connection e.V.", "DE", "Offenbach am Main", "https://en.connection-ev.org",
     "An international network that supports conscientious objectors and deserters."),
    ("pro-asyl", "PRO ASYL", "DE", "Frankfurt am Main", "https://www.proasyl.de",
     "A human rights organisation working for the rights of refugees in Germany and Europe."),
    ("war-resisters-international", "War Resisters' International", "GB", "London",
     "https://wri-irg.org", "A global pacifist and antimilitarist network."),
    ("ebco", "European Bureau for Conscientious Objection", "BE", "Brussels",
     "https://ebco-beoc.org", "Promotes the right to conscientious objection in Europe."),
    ("union-pacifiste", "Union Pacifiste de France", "FR", "Paris",
     "https://www.unionpacifiste.org", "A French section of War Resisters' International."),
]

UPDATES_LIST = ("updates", "Campaign updates",
                "News from the #ObjectWarCampaign: actions, results and what you can do.")
UPDATES_LIST_TEXTS = {
    "de": ("Neuigkeiten der Kampagne",
           "Neues von der #ObjectWarCampaign: Aktionen, Ergebnisse und was Sie tun können."),
    "ru": ("Новости кампании",
           "Новости #ObjectWarCampaign: акции, результаты и что вы можете сделать."),
    "uk": ("Новини кампанії",
           "Новини #ObjectWarCampaign: акції, результати і що ви можете зробити."),
    "be": ("Навіны кампаніі",
           "Навіны #ObjectWarCampaign: акцыі, вынікі і што вы можаце зрабіць."),
}


def seed_demo() -> dict[str, int]:
    """Create whatever of the demo campaign is missing; return what was created."""
    created = {"petitions": 0, "lists": 0, "organisations": 0}
    if db.session.scalar(select(Petition).where(Petition.slug == PETITION_SLUG)) is None:
        petition = Petition(slug=PETITION_SLUG, status=PetitionStatus.OPEN, goal=100_000,
                            default_locale="en")
        for locale, (title, summary, body) in PETITION_TEXTS.items():
            petition.texts.append(PetitionText(locale=locale, title=title, summary=summary, body=body))
        for position, texts in DEMANDS.items():
            demand = Demand(position=position)
            for locale, (title, text) in texts.items():
                demand.texts.append(DemandText(locale=locale, title=title, text=text))
            petition.demands.append(demand)
        db.session.add(petition)
        created["petitions"] += 1

    slug, name, description = UPDATES_LIST
    updates = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    if updates is None:
        updates = MailingList(slug=slug, name=name, description=description, public=True)
        db.session.add(updates)
        created["lists"] += 1
    # Also for a list seeded before lists had names in other languages.
    translated = {text.locale for text in updates.texts}
    for locale, (name, description) in UPDATES_LIST_TEXTS.items():
        if locale not in translated:
            updates.texts.append(MailingListText(locale=locale, name=name, description=description))

    existing = set(db.session.scalars(select(Organisation.slug)))
    for slug, name, country, city, website, description in ORGANISATIONS:
        if slug not in existing:
            db.session.add(Organisation(
                slug=slug, name=name, country=country, city=city, website=website,
                description=description, status=OrganisationStatus.MEMBER, public=True,
            ))
            created["organisations"] += 1
    db.session.commit()
    return created
