;;; pwnm.el --- Patchwork states as notmuch tags -*- lexical-binding: t -*-

;; Copyright (C) 2024 pwnm contributors

;; Version: 0.1
;; Package-Requires: ((emacs "27.1") (notmuch "0.32"))
;; Keywords: mail

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the GNU General Public License as published by
;; the Free Software Foundation, either version 3 of the License, or
;; (at your option) any later version.

;; This program is distributed in the hope that it will be useful,
;; but WITHOUT ANY WARRANTY; without even the implied warranty of
;; MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
;; GNU General Public License for more details.

;; You should have received a copy of the GNU General Public License
;; along with this program.  If not, see <https://www.gnu.org/licenses/>.

;;; Commentary:

;; pwnm keeps Patchwork and a notmuch database in step.  Patch states
;; live in tags under "pw/":
;;
;;   pw/PROJECT                    the mail is a patch in PROJECT
;;   pw/PROJECT/STATE              its state there (one per project)
;;   pw/PROJECT/archived           archived on Patchwork
;;   pw/PROJECT/delegate/USER      delegated to USER
;;   pw/conflict, pw/denied        need attention
;;
;; This file adds to notmuch-emacs:
;;
;; * a "Patchwork" section for notmuch-hello, one group per project:
;;   an "action needed" entry (states in `pwnm-action-states', not
;;   archived), "delegated to me" (your account on the server: see
;;   `pwnm-user'), one entry per state, an "archived" entry, and,
;;   before the projects, entries for pw/conflict, pw/denied and
;;   "queued pushes": the mails whose changes wait in pwnm's outbox
;;   (not sent yet, held, or failed and to be retried), as "pwnm
;;   status --porcelain" lists them.  By default the state entries leave archived patches
;;   out, as the Patchwork web list does (see `pwnm-hide-archived').
;;   Entries without messages are not shown, nor those notmuch-hello
;;   already shows among `notmuch-saved-searches'.  The numbers count
;;   patches: a cover letter (pw/PROJECT/series/cover) carries the
;;   state tag of its series, and the "action needed" and state
;;   entries leave it out.  The search an
;;   entry opens is named after it ("alpha: new").  Before the first
;;   sync the section is one line saying to run "pwnm sync".
;;
;; * `pwnm-jump-search' (C-c p j), the same entries with stable keys:
;;     p C        pw/conflict         p D    pw/denied
;;     p Q        queued pushes
;;     p L K      entry K of the project with letter L
;;   L is the first letter of the project's name not taken by a
;;   project before it in sorted order (or `pwnm-project-keys'); K
;;   comes from `pwnm-entry-keys': a action needed, m delegated to
;;   me, n new, u under-review, c accepted, r rejected, q queued,
;;   v archived, and so on.  `pwnm-saved-searches' returns them in
;;   the format of `notmuch-saved-searches'.
;;
;; * `pwnm-set-state' (C-c p s), which sets the state of the patch
;;   at point (in search, tree and show buffers; on a cover letter,
;;   of the patches of its thread) with one `notmuch-tag' call, so
;;   `notmuch-tag-undo' and `notmuch-after-tag-hook' work as usual.
;;
;; * `pwnm-browse-patch' (C-c p w), which opens the patch on the
;;   Patchwork web site, `pwnm-explain' (C-c p e), which shows what
;;   pwnm knows about it, and `pwnm-supersede' (C-c p S), which marks
;;   superseded the open patches a later revision of their series
;;   replaced.  C-c p ? lists these commands.
;;
;; * `pwnm--after-tag' on `notmuch-after-tag-hook': a change to a pw/
;;   tag runs "notmuch-pwnm push --quick" in the background.
;;
;; * `notmuch-tag-formats' entries showing "pw/alpha/new" as
;;   "alpha:new" and hiding the bare "pw/alpha" tag.
;;
;; Setup, in your init file:
;;
;;   (require 'pwnm)
;;   (pwnm-enable)          ; hook, tag formats and hello section
;;   (pwnm-setup-keys)      ; C-c p in notmuch buffers; C-c p ? lists
;;
;; That is all; `pwnm-disable' undoes `pwnm-enable'.  To have the
;; entries among notmuch's own saved searches instead, add
;;
;;   (setq notmuch-saved-searches
;;         (append notmuch-saved-searches (pwnm-saved-searches)))
;;
;; after a first sync; the Patchwork section then leaves them out.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'notmuch)
(require 'notmuch-hello)
(require 'notmuch-tag)
(require 'notmuch-show)
(require 'notmuch-tree)

;;; Options

(defgroup pwnm nil
  "Patchwork states as notmuch tags."
  :group 'notmuch
  :prefix "pwnm-")

(defcustom pwnm-command "notmuch-pwnm"
  "The pwnm command line program.
It is run as \"push --quick\", \"explain --url ID\" and
\"states PROJECT\"."
  :type 'string
  :group 'pwnm)

(defcustom pwnm-action-states '("new" "under-review")
  "States of patches that need the maintainer's action.
The \"action needed\" entry of the hello section counts the
patches in one of these states that are not archived."
  :type '(repeat string)
  :group 'pwnm)

(defcustom pwnm-default-states
  '("new" "under-review" "accepted" "rejected" "rfc" "not-applicable"
    "changes-requested" "awaiting-upstream" "superseded" "deferred")
  "States offered by `pwnm-set-state' for every project.
These are the states of a stock Patchwork instance; the states
seen in the database and those listed by \"notmuch-pwnm states\"
are offered too."
  :type '(repeat string)
  :group 'pwnm)

(defcustom pwnm-hide-archived t
  "Whether the per-state entries of the hello section leave out archived patches.
When non-nil, as on the Patchwork web list, archived patches are
counted only in the \"archived\" entry."
  :type 'boolean
  :group 'pwnm)

(defcustom pwnm-user nil
  "Your user name on the Patchwork server, for the \"delegated to me\" entry.
When nil, it is the account pwnm knows: the setting pwnm.user, or
the account \"pwnm sync\" found on the server from notmuch's
user.primary_email and user.other_email (see \"pwnm status\")."
  :type '(choice (const :tag "The account pwnm knows" nil) string)
  :group 'pwnm)

(defcustom pwnm-entry-keys
  '(("action needed" . ?a) ("delegated to me" . ?m) ("new" . ?n)
    ("under-review" . ?u) ("accepted" . ?c) ("rejected" . ?r) ("rfc" . ?f)
    ("not-applicable" . ?x) ("changes-requested" . ?h)
    ("awaiting-upstream" . ?w) ("superseded" . ?s) ("deferred" . ?d)
    ("queued" . ?q) ("handled-elsewhere" . ?e) ("archived" . ?v))
  "The jump key of each entry of a project, after the project's key.
An entry not listed here takes the first letter of its name that
no entry here and no other such entry (in sorted order) has, so a
key does not change with the states that happen to have patches."
  :type '(alist :key-type string :value-type character)
  :group 'pwnm)

(defcustom pwnm-project-keys nil
  "The jump key of projects, as an alist of (PROJECT . CHARACTER).
A project not listed takes the first letter of its name that no
project before it (in sorted order) has."
  :type '(alist :key-type string :value-type character)
  :group 'pwnm)

(defcustom pwnm-jump-prefix "p"
  "Key prefix of the `notmuch-jump-search' keys of `pwnm-saved-searches'.
Set it to nil to have no keys."
  :type '(choice (const :tag "No keys" nil) string)
  :group 'pwnm)

(defcustom pwnm-keymap-prefix (kbd "C-c p")
  "Prefix key under which `pwnm-setup-keys' puts `pwnm-command-map'."
  :type 'key-sequence
  :group 'pwnm)

(defface pwnm-conflict-face
  '((t :inherit error))
  "Face for the pw/conflict tag."
  :group 'pwnm)

(defface pwnm-denied-face
  '((t :inherit warning))
  "Face for the pw/denied tag."
  :group 'pwnm)

(defface pwnm-check-fail-face
  '((t :inherit error))
  "Face for the pw/PROJECT/check/fail tag (CI checks failed)."
  :group 'pwnm)

(defface pwnm-check-warning-face
  '((t :inherit warning))
  "Face for the pw/PROJECT/check/warning tag."
  :group 'pwnm)

(defface pwnm-check-success-face
  '((t :inherit success))
  "Face for the pw/PROJECT/check/success tag."
  :group 'pwnm)

;;; Tags

(defconst pwnm--global-tags '("conflict" "denied")
  "Second components of pw/ tags that do not name a project.")

(defun pwnm--tag-query (tag)
  "Return a query term matching messages with TAG."
  (concat "tag:" (notmuch-escape-boolean-term tag)))

(defun pwnm--all-tags (&optional query)
  "Return the tags of the messages matching QUERY (default: all), excludes ignored."
  (notmuch-tag-completions (or query "*")))

(defun pwnm--count (query)
  "Return the number of messages matching QUERY, excludes ignored."
  (string-to-number
   (car (process-lines notmuch-command "count" "--exclude=false" query))))

(defun pwnm--pw-tags (tags)
  "Return the elements of TAGS under \"pw/\"."
  (cl-remove-if-not (lambda (tag) (string-prefix-p "pw/" tag)) tags))

(defun pwnm--tag-project (tag)
  "Return the project of TAG when it is the bare \"pw/PROJECT\" tag."
  (let ((parts (split-string tag "/")))
    (and (= (length parts) 2)
	 (equal (car parts) "pw")
	 (not (string-empty-p (nth 1 parts)))
	 (not (member (nth 1 parts) pwnm--global-tags))
	 (nth 1 parts))))

(defun pwnm--tag-state (tag project)
  "Return the state slug of TAG when it is a state tag of PROJECT."
  (let ((parts (split-string tag "/")))
    (and (= (length parts) 3)
	 (equal (car parts) "pw")
	 (equal (nth 1 parts) project)
	 (not (equal (nth 2 parts) "archived"))
	 (not (string-empty-p (nth 2 parts)))
	 (nth 2 parts))))

(defun pwnm--projects (tags)
  "Return the sorted projects named by bare pw/PROJECT tags in TAGS."
  (sort (delete-dups (delq nil (mapcar #'pwnm--tag-project tags)))
	#'string<))

(defun pwnm--states (tags project)
  "Return the state slugs of PROJECT found in TAGS."
  (delete-dups
   (delq nil (mapcar (lambda (tag) (pwnm--tag-state tag project)) tags))))

(defun pwnm--sort-states (states)
  "Return STATES in display order.
The states of `pwnm-default-states' come first, in that order,
then the others alphabetically."
  (let ((known (cl-remove-if-not (lambda (s) (member s states))
				 pwnm-default-states))
	(others (sort (cl-remove-if (lambda (s) (member s pwnm-default-states))
				    (copy-sequence states))
		      #'string<)))
    (append known others)))

;;; Running pwnm

(defun pwnm--call (&rest args)
  "Run `pwnm-command' with ARGS and wait for it.
Return a list (STATUS STDOUT STDERR).  STATUS is the exit code,
or a string when the program could not be run."
  (let ((default-directory (expand-file-name "~/"))
	(errfile (make-temp-file "pwnm-err")))
    (unwind-protect
	(with-temp-buffer
	  (let ((status (condition-case err
			    (apply #'call-process pwnm-command nil
				   (list t errfile) nil args)
			  (error (error-message-string err)))))
	    (list status
		  (buffer-string)
		  (with-temp-buffer
		    (insert-file-contents errfile)
		    (buffer-string)))))
      (delete-file errfile))))

(defun pwnm--first-line (text)
  "Return the first non-empty line of TEXT, or nil."
  (car (split-string (or text "") "[\r\n]+" t "[ \t]+")))

(defun pwnm--lines (text)
  "Return the non-empty lines of TEXT, trimmed."
  (split-string (or text "") "[\r\n]+" t "[ \t]+"))

(defun pwnm--error-text (result)
  "Return a one-line description of the failed `pwnm--call' RESULT."
  (let ((status (nth 0 result)))
    (or (pwnm--first-line (nth 2 result))
	(if (stringp status)
	    status
	  (format "%s exited with status %s" pwnm-command status)))))

;;; What pwnm knows beyond the tags

(defun pwnm--porcelain ()
  "Return the answer of \"`pwnm-command' status --porcelain\" as a plist.
:user is the user's Patchwork account name, or nil when pwnm
knows none; :queued lists a (PROJECT MESSAGE-ID WHY) for each
change waiting in the outbox.  Both are nil when the program
fails."
  (let ((result (pwnm--call "status" "--porcelain"))
	user queued)
    (when (eql (car result) 0)
      (dolist (line (split-string (nth 1 result) "\n" t))
	(cond
	 ((string-match "\\`user \\([^ ]+\\)\\'" line)
	  (setq user (match-string 1 line)))
	 ((string-match "\\`queued \\([^ ]+\\) \\([^ ]+\\) \\([^ ]+\\)\\'" line)
	  (push (list (match-string 1 line) (match-string 2 line) (match-string 3 line))
		queued)))))
    (list :user user :queued (nreverse queued))))

(defun pwnm--user (info)
  "Return the Patchwork user name of the user, or nil.
It is `pwnm-user' when set, else the :user of INFO (see
`pwnm--porcelain')."
  (or pwnm-user (plist-get info :user)))

;;; Hello section and saved searches

(defun pwnm--assign-key (label used)
  "Return the first character of LABEL (then of a-z, 0-9) not in USED."
  (let ((candidates (append (downcase label)
			    "abcdefghijklmnopqrstuvwxyz0123456789"
			    nil)))
    (cl-find-if (lambda (c)
		  (and (or (<= ?a c ?z) (<= ?0 c ?9))
		       (not (memq c used))))
		candidates)))

(defun pwnm--label-key (label taken)
  "Return the jump key character of the entry LABEL within a project.
It is the one `pwnm-entry-keys' gives LABEL; for a label not
there, the first letter of LABEL that neither `pwnm-entry-keys'
nor TAKEN (the keys of other such labels) holds."
  (or (cdr (assoc label pwnm-entry-keys))
      (pwnm--assign-key label (append (mapcar #'cdr pwnm-entry-keys) taken))))

(defun pwnm--project-keys (projects)
  "Return an alist of each of PROJECTS with its jump key character.
A project in `pwnm-project-keys' has the key given there; the
others, in sorted order, take the first letter of their name not
yet taken."
  (let* ((fixed (cl-remove-if-not (lambda (e) (member (car e) projects))
				  pwnm-project-keys))
	 (used (mapcar #'cdr fixed))
	 (result (copy-sequence fixed)))
    (dolist (project (sort (copy-sequence projects) #'string<))
      (unless (assoc project result)
	(let ((key (pwnm--assign-key project used)))
	  (push key used)
	  (push (cons project key) result))))
    result))

(defun pwnm--entries (tags &optional info)
  "Return the hello entries for the pw/ tags among TAGS.
INFO is what pwnm knows beyond the tags (see `pwnm--porcelain'),
asked for when nil.  Each entry is a plist with :name, :query and
:key as in `notmuch-saved-searches', plus :pwnm-label (the short
name) and :pwnm-project (nil for pw/conflict, pw/denied and the
queued pushes)."
  (let* ((entries nil)
	 (info (or info (pwnm--porcelain)))
	 (projects (pwnm--projects tags))
	 (project-keys (pwnm--project-keys projects))
	 (user (pwnm--user info))
	 (queued (delete-dups (mapcar #'cadr (plist-get info :queued)))))
    (dolist (global '(("conflict" . "C") ("denied" . "D")))
      (let ((tag (concat "pw/" (car global))))
	(when (member tag tags)
	  (push (list :name tag
		      :query (pwnm--tag-query tag)
		      :key (and pwnm-jump-prefix
				(concat pwnm-jump-prefix (cdr global)))
		      :pwnm-label (car global)
		      :pwnm-project nil)
		entries))))
    (when queued
      (push (list :name "queued pushes"
		  :query (mapconcat #'notmuch-id-to-query queued " or ")
		  :key (and pwnm-jump-prefix (concat pwnm-jump-prefix "Q"))
		  :pwnm-label "queued pushes"
		  :pwnm-project nil)
	    entries))
    (dolist (project projects)
      (let* ((pletter (cdr (assoc project project-keys)))
	     (taken nil)
	     (ptag (pwnm--tag-query (concat "pw/" project)))
	     (archived (pwnm--tag-query (concat "pw/" project "/archived")))
	     (unarchived
	      (lambda (q) (if pwnm-hide-archived (concat q " and not " archived) q)))
	     ;; A cover letter carries its series' state tag: leave it
	     ;; out so that the numbers count patches.
	     (patches
	      (lambda (q) (concat q " and not "
				  (pwnm--tag-query (pwnm--cover-tag project)))))
	     (add
	      (lambda (label query)
		(let ((letter (pwnm--label-key label taken)))
		  (unless (assoc label pwnm-entry-keys)
		    (push letter taken))
		  (push (list :name (concat project ": " label)
			      :query query
			      :key (and pwnm-jump-prefix pletter letter
					(concat pwnm-jump-prefix
						(string pletter letter)))
			      :pwnm-label label
			      :pwnm-project project)
			entries)))))
	(when pwnm-action-states
	  (funcall add "action needed"
		   (concat ptag " and ("
			   (mapconcat (lambda (s)
					(pwnm--tag-query
					 (concat "pw/" project "/" s)))
				      pwnm-action-states " or ")
			   ") and not " archived
			   " and not " (pwnm--tag-query (pwnm--cover-tag project)))))
	(let ((delegate (and user (concat "pw/" project "/delegate/" user))))
	  (when (and delegate (member delegate tags))
	    (funcall add "delegated to me"
		     (funcall unarchived (pwnm--tag-query delegate)))))
	(let ((fail (concat "pw/" project "/check/fail"))
	      (newer (concat "pw/" project "/series/newer")))
	  (when (member fail tags)
	    (funcall add "checks failing" (funcall unarchived (pwnm--tag-query fail))))
	  (when (member newer tags)
	    (funcall add "newer revision posted"
		     (funcall unarchived (pwnm--tag-query newer)))))
	(dolist (state (pwnm--sort-states (pwnm--states tags project)))
	  (funcall add state
		   (funcall patches
			    (funcall unarchived
				     (pwnm--tag-query (concat "pw/" project "/" state))))))
	(when (member (concat "pw/" project "/archived") tags)
	  (funcall add "archived" archived))))
    (nreverse entries)))

;;;###autoload
(defun pwnm-saved-searches ()
  "Return a saved search for each Patchwork entry of the hello section.
The result is a list of plists with :name, :query and :key, in
the format of `notmuch-saved-searches'; see the Commentary of
pwnm.el for the keys.  `pwnm-jump-search' offers them without
adding them to `notmuch-saved-searches'."
  (mapcar (lambda (entry)
	    (let ((plist (list :name (plist-get entry :name)
			       :query (plist-get entry :query))))
	      (if (plist-get entry :key)
		  (append plist (list :key (plist-get entry :key)))
		plist)))
	  (pwnm--entries (pwnm--pw-tags (pwnm--all-tags)))))

;;;###autoload
(defun pwnm-jump-search ()
  "Jump to a Patchwork search with the keys of `pwnm-saved-searches'.
The search buffer is named after the entry, as \"alpha: new\"."
  (interactive)
  (let ((notmuch-saved-searches (pwnm-saved-searches)))
    (unless notmuch-saved-searches
      (user-error "No patch tagged yet; run \"pwnm sync\" once"))
    (notmuch-jump-search)))

(defun pwnm--hello-search (widget &rest _ignore)
  "Open the search of the hello button WIDGET, named after its entry."
  (let ((notmuch-saved-searches
	 ;; notmuch names a search buffer after the last saved search
	 ;; whose query is a prefix of the search.
	 (append notmuch-saved-searches
		 (list (list :name (widget-get widget :pwnm-name)
			     :query (widget-get widget :notmuch-search-terms))))))
    (notmuch-search (widget-get widget :notmuch-search-terms)
		    (widget-get widget :notmuch-search-oldest-first))))

(defun pwnm--saved-search-p (query)
  "Return non-nil when notmuch-hello lists QUERY as a saved search."
  (and (memq #'notmuch-hello-insert-saved-searches notmuch-hello-sections)
       (cl-some (lambda (search)
		  (equal (notmuch-saved-search-get search :query) query))
		notmuch-saved-searches)))

(defun pwnm--insert-buttons (entries label-width per-line)
  "Insert ENTRIES as buttons, PER-LINE a line, labels LABEL-WIDTH wide."
  (let ((widget-push-button-prefix "")
	(widget-push-button-suffix "")
	(column 0)
	(pad 0))
    (dolist (entry entries)
      (if (= column per-line)
	  (progn (widget-insert "\n")
		 (setq column 0))
	(widget-insert (make-string pad ?\s)))
      (let ((label (plist-get entry :pwnm-label)))
	(widget-insert (format "%8s " (notmuch-hello-nice-number
				      (plist-get entry :count))))
	(widget-create 'push-button
		       :notify #'pwnm--hello-search
		       :notmuch-search-terms (plist-get entry :query)
		       :notmuch-search-oldest-first notmuch-search-oldest-first
		       :pwnm-name (plist-get entry :name)
		       label)
	(setq column (1+ column)
	      pad (- label-width (length label)))))
    (widget-insert "\n")))

(defun pwnm--insert-heading (project)
  "Insert the heading of PROJECT, a button searching all its patches."
  (let ((widget-push-button-prefix "")
	(widget-push-button-suffix ""))
    (widget-create 'push-button
		   :notify #'pwnm--hello-search
		   :notmuch-search-terms (pwnm--tag-query (concat "pw/" project))
		   :notmuch-search-oldest-first notmuch-search-oldest-first
		   :pwnm-name project
		   project))
  (widget-insert "\n"))

(defconst pwnm--hello-title "Patchwork"
  "The title of the hello section.
It is also the section's name in `notmuch-hello-hidden-sections'.")

(defun pwnm--insert-title ()
  "Insert the title of the hello section with its [hide]/[show] button.
Return non-nil when the section is shown."
  (let ((title pwnm--hello-title)
	(hidden (member pwnm--hello-title notmuch-hello-hidden-sections)))
    (widget-insert title ": ")
    (widget-create 'push-button
		   :notify (lambda (&rest _ignore)
			     (if (member title notmuch-hello-hidden-sections)
				 (setq notmuch-hello-hidden-sections
				       (delete title notmuch-hello-hidden-sections))
			       (push title notmuch-hello-hidden-sections))
			     (notmuch-hello-update))
		   (if hidden "show" "hide"))
    (widget-insert "\n")
    (not hidden)))

;;;###autoload
(defun pwnm-hello-insert-section ()
  "Insert the \"Patchwork\" section into the notmuch-hello buffer.
Add it to `notmuch-hello-sections' with `pwnm-hello-setup' or

  (add-to-list \\='notmuch-hello-sections #\\='pwnm-hello-insert-section t)

Before the first sync the section is one line saying so.  Entries
notmuch-hello already shows among the saved searches, and those
without messages, are left out."
  (let ((tags (pwnm--pw-tags (pwnm--all-tags))))
    (if (null tags)
	(widget-insert pwnm--hello-title
		       ": no patch tagged yet; run \"pwnm sync\" once"
		       " (see pwnm(1))\n")
      (let ((searches (notmuch-hello-query-counts
		       (cl-remove-if (lambda (e) (pwnm--saved-search-p
						  (plist-get e :query)))
				     (pwnm--entries tags)))))
	(when searches
	  (when (pwnm--insert-title)
	    (widget-insert "\n")
	    (let* ((start (point))
		   (label-width (+ 2 (apply #'max
					   (mapcar (lambda (e)
						     (length (plist-get e :pwnm-label)))
						   searches))))
		   (per-line (max 1 (/ (- (window-width) notmuch-hello-indent)
				       (+ 9 label-width))))
		   (globals (cl-remove-if (lambda (e) (plist-get e :pwnm-project))
					  searches))
		   (projects nil))
	      (when globals
		(pwnm--insert-buttons globals label-width per-line))
	      (dolist (entry searches)
		(let ((project (plist-get entry :pwnm-project)))
		  (when (and project (not (member project projects)))
		    (push project projects))))
	      (dolist (project (nreverse projects))
		(pwnm--insert-heading project)
		(pwnm--insert-buttons
		 (cl-remove-if-not (lambda (e)
				     (equal (plist-get e :pwnm-project) project))
				   searches)
		 label-width per-line))
	      (indent-rigidly start (point) notmuch-hello-indent))))))))

;;;###autoload
(defun pwnm-hello-setup ()
  "Add the Patchwork section to `notmuch-hello-sections'.
It goes after the saved searches, or at the end."
  (interactive)
  (unless (memq #'pwnm-hello-insert-section notmuch-hello-sections)
    (let ((pos (cl-position #'notmuch-hello-insert-saved-searches
			    notmuch-hello-sections)))
      (setq notmuch-hello-sections
	    (if pos
		(append (cl-subseq notmuch-hello-sections 0 (1+ pos))
			(list #'pwnm-hello-insert-section)
			(nthcdr (1+ pos) notmuch-hello-sections))
	      (append notmuch-hello-sections
		      (list #'pwnm-hello-insert-section)))))))

;;; The message at point

(defun pwnm--context ()
  "Return the messages at point as a plist.
:mode is `show', `tree' or `search'; :query matches the message
\(show, tree) or the thread (search); :id is the bare Message-ID
of the message (show, tree)."
  (cond
   ((derived-mode-p 'notmuch-show-mode)
    (let ((id (notmuch-show-get-message-id t)))
      (unless id
	(user-error "No message at point"))
      (list :mode 'show :query (notmuch-id-to-query id) :id id)))
   ((derived-mode-p 'notmuch-tree-mode)
    (let ((id (notmuch-tree-get-message-id t)))
      (unless id
	(user-error "No message at point"))
      (list :mode 'tree :query (notmuch-id-to-query id) :id id)))
   ((derived-mode-p 'notmuch-search-mode)
    (let ((thread (notmuch-search-find-thread-id)))
      (unless thread
	(user-error "No thread at point"))
      (list :mode 'search :query thread)))
   (t
    (user-error "Not in a notmuch search, tree or show buffer"))))

(defun pwnm--targets (context)
  "Return the query of the patches a command at CONTEXT acts on.
It is the message at point when it is a patch; on a mail that is
no patch, such as a cover letter, and in a search buffer, the
patches of its thread."
  (let ((query (plist-get context :query)))
    (if (and (plist-get context :id)
	     (null (pwnm--projects (pwnm--all-tags query))))
	(concat "thread:{" query "}")
      query)))

(defun pwnm--read-project (projects)
  "Return one of PROJECTS, asking when there are several."
  (cond
   ((null projects)
    (user-error "Not a Patchwork patch (no pw/PROJECT tag)"))
   ((null (cdr projects))
    (car projects))
   (t
    (completing-read (format "Project (default %s): " (car projects))
		     projects nil t nil nil (car projects)))))

(defun pwnm--known-states (project &optional tags)
  "Return the state slugs known for PROJECT.
They are the states seen in TAGS (default: all tags in the
database), those printed by \"`pwnm-command' states PROJECT\"
when it succeeds, and `pwnm-default-states'."
  (let* ((result (pwnm--call "states" project))
	 (listed (and (eql (car result) 0) (pwnm--lines (nth 1 result)))))
    (cl-remove-if
     (lambda (s) (or (equal s "archived") (string-match-p "[/[:space:]]" s)))
     (delete-dups
      (append (pwnm--states (or tags (pwnm--all-tags)) project)
	      listed
	      (copy-sequence pwnm-default-states))))))

(defun pwnm--update-display (mode tag-changes &optional ids)
  "Show TAG-CHANGES on the message or thread at point in MODE.
With IDS, a list of Message-IDs, show them on those messages of
the show or tree buffer instead of the one at point."
  (pcase mode
    ('show
     (if ids
	 (save-excursion
	   (notmuch-show-mapc
	    (lambda ()
	      (when (member (notmuch-show-get-message-id t) ids)
		(notmuch-show-set-tags
		 (notmuch-update-tags (notmuch-show-get-tags) tag-changes))))))
       (notmuch-show-set-tags
	(notmuch-update-tags (notmuch-show-get-tags) tag-changes))))
    ('tree
     (if ids
	 (save-excursion
	   (goto-char (point-min))
	   (while (not (eobp))
	     (when (member (notmuch-tree-get-message-id t) ids)
	       (notmuch-tree-tag-update-display tag-changes))
	     (forward-line)))
       (notmuch-tree-tag-update-display tag-changes)))
    ('search
     (notmuch-search-set-tags
      (notmuch-update-tags (notmuch-search-get-tags) tag-changes)))))

(defun pwnm--patches (n)
  "Return \"N patch\" or \"N patches\"."
  (format "%d patch%s" n (if (= n 1) "" "es")))

(defun pwnm--cover-tag (project)
  "Return the tag pwnm puts on the cover letter of a series in PROJECT."
  (concat "pw/" project "/series/cover"))

(defun pwnm--cover-in (query project)
  "Return the Message-ID of a cover letter of PROJECT among QUERY's mails, or nil."
  (car (notmuch-call-notmuch-sexp
	"search" "--format=sexp" "--output=messages" "--exclude=false"
	(concat "(" query ") and " (pwnm--tag-query (pwnm--cover-tag project))))))

(defun pwnm--series (cover)
  "Return the series whose cover letter is the mail COVER, or nil.
It is a plist with :name, :version and :patches (their
Message-IDs), read from \"`pwnm-command' explain COVER\"."
  (let ((result (pwnm--call "explain" cover))
	series patches)
    (when (eql (car result) 0)
      (dolist (line (split-string (nth 1 result) "\n" t))
	(cond
	 ((and (not series)
	       (string-match "\\`series [0-9]+ in [^ ]+: \"\\(.*\\)\" v\\([0-9]+\\)," line))
	  (setq series (list :name (match-string 1 line)
			     :version (string-to-number (match-string 2 line)))))
	 ((and series (string-match "\\`  patch: +\\(.+\\)\\'" line))
	  (push (match-string 1 line) patches))))
      (and series (append series (list :patches (nreverse patches)))))))

(defun pwnm--series-label (series)
  "Return \"series NAME vN\" for SERIES (see `pwnm--series')."
  (format "series %s v%d" (plist-get series :name) (plist-get series :version)))

;;;###autoload
(defun pwnm-set-state (state &optional project confirm)
  "Set the Patchwork STATE of the patch at point in PROJECT.
In a show or tree buffer the patch is the current message, or,
on a mail that is no patch (a cover letter), every patch of its
thread; in a search buffer it is every patch of the thread at
point.  Interactively, ask for PROJECT when the mail is a patch
in several projects, and for STATE among the states known for
PROJECT (see `pwnm--known-states').  When CONFIRM is non-nil (as
it is interactively) and more than one patch would change, ask
first.

The change is one `notmuch-tag' call that adds pw/PROJECT/STATE
and removes the other state tags of PROJECT, so it can be undone
with `notmuch-tag-undo' and runs `notmuch-after-tag-hook'."
  (interactive
   (let* ((context (pwnm--context))
	  (tags (pwnm--all-tags (pwnm--targets context)))
	  (project (pwnm--read-project (pwnm--projects tags)))
	  (current (pwnm--states tags project))
	  (state (completing-read
		  (format "State in %s%s: " project
			  (if current
			      (format " (now %s)" (string-join current ", "))
			    ""))
		  (pwnm--known-states project)
		  nil t)))
     (list state project t)))
  (let* ((context (pwnm--context))
	 (base (pwnm--targets context))
	 (project (or project
		      (pwnm--read-project
		       (pwnm--projects (pwnm--all-tags base))))))
    (when (or (string-empty-p state)
	      (string-match-p "[/[:space:]]" state)
	      (equal state "archived"))
      (user-error "Not a state: %S" state))
    (let* ((cover (pwnm--cover-in (plist-get context :query) project))
	   (series (and cover (pwnm--series cover)))
	   (members (and series (plist-get series :patches)))
	   (query (concat "(" (if members
				  (mapconcat #'notmuch-id-to-query (cons cover members) " or ")
				base)
			  ") and " (pwnm--tag-query (concat "pw/" project))))
	   (what (if series (concat (pwnm--series-label series) ": ") ""))
	   (tags (pwnm--all-tags query))
	   (present (pwnm--states tags project))
	   (new-tag (concat "pw/" project "/" state))
	   (tag-changes
	    (cons (concat "+" new-tag)
		  (mapcar (lambda (s) (concat "-pw/" project "/" s))
			  (remove state present))))
	   ;; The patches without the new state or with another one.
	   (changing
	    (pwnm--count
	     (concat query " and not " (pwnm--tag-query (pwnm--cover-tag project))
		     " and (not " (pwnm--tag-query new-tag)
		     (mapconcat (lambda (s)
				  (concat " or " (pwnm--tag-query
						  (concat "pw/" project "/" s))))
				(remove state present) "")
		     ")")))
	   (thread (and (plist-get context :id)
			(or members (not (equal base (plist-get context :query)))))))
      (unless (member (concat "pw/" project) tags)
	(user-error "Not a patch in %s" project))
      (cond
       ((= changing 0)
	(message "pwnm: %s: %salready %s" project what state))
       ((and confirm (> changing 1)
	     (not (y-or-n-p (format "Set %s%s in %s to %s? "
				    what (pwnm--patches changing) project state))))
	(message "pwnm: %s: nothing changed" project))
       (t
	(let ((ids (and thread (if members (cons cover members) (pwnm--patch-ids query)))))
	  (notmuch-tag query tag-changes)
	  (pwnm--update-display (plist-get context :mode) tag-changes ids))
	(message "pwnm: %s: %s%s %s" project what (pwnm--patches changing) state))))))

(defun pwnm--patch-ids (query)
  "Return the message ids (without id:) of the pw patches matching QUERY."
  (let* ((projects (pwnm--projects (pwnm--all-tags query)))
	 (pq (and projects
		  (concat "(" query ") and ("
			  (mapconcat (lambda (p) (pwnm--tag-query (concat "pw/" p)))
				     projects " or ")
			  ")"))))
    (and pq
	 (notmuch-call-notmuch-sexp "search" "--format=sexp"
				    "--output=messages" "--exclude=false" pq))))

(defun pwnm--patch-at-point ()
  "Return the Message-ID of the patch at point, asking when there are several."
  (let* ((context (pwnm--context))
	 (ids (if (eq (plist-get context :mode) 'search)
		  (pwnm--patch-ids (plist-get context :query))
		(let ((targets (pwnm--targets context)))
		  (if (equal targets (plist-get context :query))
		      (list (plist-get context :id))
		    (pwnm--patch-ids targets))))))
    (cond ((null ids) (user-error "No Patchwork patch here"))
	  ((null (cdr ids)) (car ids))
	  (t (completing-read "Message: " ids nil t)))))

;;;###autoload
(defun pwnm-browse-patch ()
  "Open the Patchwork web page of the patch at point.
The URL comes from \"`pwnm-command' explain --url --project
PROJECT ID\"; when the mail is a patch in several projects, ask
in which."
  (interactive)
  (let* ((id (pwnm--patch-at-point))
	 (project (pwnm--read-project
		   (pwnm--projects (pwnm--all-tags (notmuch-id-to-query id)))))
	 (result (pwnm--call "explain" "--url" "--project" project id))
	 (urls (and (eql (car result) 0) (pwnm--lines (nth 1 result)))))
    (unless (eql (car result) 0)
      (user-error "Cannot get the patch URL: %s" (pwnm--error-text result)))
    (unless urls
      (user-error "No patch URL for %s in %s" id project))
    (browse-url (car urls))))

;;;###autoload
(defun pwnm-explain ()
  "Show what pwnm knows about the patch at point, from \"pwnm explain\"."
  (interactive)
  (let* ((id (pwnm--patch-at-point))
	 (result (pwnm--call "explain" id)))
    (unless (eql (car result) 0)
      (user-error "Cannot explain %s: %s" id (pwnm--error-text result)))
    (with-help-window "*pwnm explain*"
      (princ (nth 1 result)))))

;;;###autoload
(defun pwnm-supersede ()
  "Mark superseded the open patches that a later revision replaced.
They are the patches tagged pw/PROJECT/series/newer of the series
of the mail at point (a patch or cover letter of either revision),
as \"`pwnm-command' supersede ID\" sets them."
  (interactive)
  (let* ((context (pwnm--context))
	 (id (or (plist-get context :id)
		 (car (notmuch-call-notmuch-sexp "search" "--format=sexp" "--output=messages"
						 "--exclude=false"
						 (plist-get context :query)))))
	 (result (pwnm--call "supersede" id)))
    (unless (eql (car result) 0)
      (user-error "Cannot supersede: %s" (pwnm--error-text result)))
    (message "pwnm: %s" (or (pwnm--first-line (nth 1 result)) "done"))))

;;; Keys

(defconst pwnm--commands
  '(("s" "set state" pwnm-set-state)
    ("w" "web page" pwnm-browse-patch)
    ("e" "explain" pwnm-explain)
    ("j" "jump to a search" pwnm-jump-search)
    ("p" "push now" pwnm-push)
    ("S" "supersede older revision" pwnm-supersede))
  "The commands of `pwnm-command-map' as (KEY LABEL COMMAND).")

(defvar pwnm-command-map
  (let ((map (make-sparse-keymap)))
    (dolist (command pwnm--commands)
      (define-key map (car command) (nth 2 command)))
    (define-key map "?" #'pwnm-menu)
    map)
  "Keymap of the pwnm commands, bound to `pwnm-keymap-prefix' by `pwnm-setup-keys'.")

;;;###autoload
(defun pwnm-menu ()
  "Offer the pwnm commands with their keys, and run the one chosen."
  (interactive)
  (notmuch-jump (mapcar (lambda (command)
			  (list (car command) (nth 1 command)
				(lambda () (call-interactively (nth 2 command)))))
			pwnm--commands)
		"pwnm: "))

;;;###autoload
(defun pwnm-setup-keys ()
  "Bind `pwnm-command-map' to `pwnm-keymap-prefix' in notmuch buffers.
The buffers are those of notmuch-hello and of search, tree and
show mode.  After the prefix, s sets the state, w opens the patch
on the web, e explains it, j jumps to a Patchwork search, p
pushes now, S marks superseded what a later revision replaced
\(`pwnm-supersede') and ? offers all of them in a menu."
  (interactive)
  (dolist (map (list notmuch-hello-mode-map notmuch-search-mode-map
		     notmuch-tree-mode-map notmuch-show-mode-map))
    (define-key map pwnm-keymap-prefix pwnm-command-map)))

;;; Pushing after tagging

(defconst pwnm--exit-tempfail 75
  "The exit status of pwnm for a temporary failure (EX_TEMPFAIL).")

(defvar pwnm--push-process nil
  "The running \"push --quick\" process, or nil.")

(defvar pwnm--push-again nil
  "Non-nil when a push was asked for while one was running.")

(defun pwnm--push-start ()
  "Start \"`pwnm-command' push --quick\" in the background."
  (let ((out (generate-new-buffer " *pwnm-push*"))
	(err (generate-new-buffer " *pwnm-push-stderr*"))
	(default-directory (expand-file-name "~/"))
	errproc)
    (condition-case failure
	(progn
	  (setq errproc (make-pipe-process :name "pwnm-push-stderr"
					   :buffer err
					   :noquery t
					   :sentinel #'ignore))
	  (setq pwnm--push-process
		(make-process :name "pwnm-push"
			      :buffer out
			      :stderr errproc
			      :command (list pwnm-command "push" "--quick")
			      :connection-type 'pipe
			      :noquery t
			      :sentinel #'pwnm--push-sentinel))
	  (process-put pwnm--push-process 'pwnm-stderr errproc))
      (error
       (setq pwnm--push-process nil)
       (when errproc
	 (delete-process errproc))
       (kill-buffer out)
       (kill-buffer err)
       (message "pwnm: push failed: %s" (error-message-string failure))))))

(defun pwnm--push-sentinel (proc _event)
  "Report the end of the push process PROC and start the next one if asked."
  (unless (process-live-p proc)
    (let* ((errproc (process-get proc 'pwnm-stderr))
	   (errbuf (process-buffer errproc))
	   (outbuf (process-buffer proc))
	   (tries 0))
      (while (and (process-live-p errproc) (< tries 20))
	(accept-process-output errproc 0.05)
	(cl-incf tries))
      (let ((ok (and (eq (process-status proc) 'exit)
		     (= (process-exit-status proc) 0)))
	    (out (and (buffer-live-p outbuf)
		      (with-current-buffer outbuf (buffer-string))))
	    (err (and (buffer-live-p errbuf)
		      (with-current-buffer errbuf (buffer-string)))))
	(delete-process errproc)
	(when (buffer-live-p outbuf) (kill-buffer outbuf))
	(when (buffer-live-p errbuf) (kill-buffer errbuf))
	(when (eq pwnm--push-process proc)
	  (setq pwnm--push-process nil))
	(cond
	 (ok
	  (let ((summary (pwnm--first-line out)))
	    (message "pwnm: pushed%s" (if summary (format " (%s)" summary) ""))))
	 ((and (eq (process-status proc) 'exit)
	       (= (process-exit-status proc) pwnm--exit-tempfail))
	  (message "pwnm: stays queued: %s; will retry"
		   (pwnm--reason (or (pwnm--first-line err)
				     "the server did not answer"))))
	 (t
	  (message "pwnm: push failed: %s"
		   (if (pwnm--first-line err)
		       (pwnm--reason (pwnm--first-line err))
		     (format "%s %s" pwnm-command
			     (pwnm--process-end proc))))))
	(when (and pwnm--push-again (not pwnm--push-process))
	  (setq pwnm--push-again nil)
	  (pwnm--push-start))))))

(defun pwnm--reason (line)
  "Return the error LINE of pwnm in words for the echo area.
The program's name, request methods with their URLs and the
\"kept for the next run\" the caller says otherwise are left out."
  (let ((text line))
    (setq text (replace-regexp-in-string "\\`\\(notmuch-\\)?pwnm: " "" text))
    (setq text (replace-regexp-in-string
		"\\(GET\\|PATCH\\|POST\\|PUT\\) https?://[^ ]*: " "" text))
    (setq text (replace-regexp-in-string "; kept for the next run\\'" "" text))
    text))

(defun pwnm--process-end (proc)
  "Return a short description of how PROC ended."
  (if (eq (process-status proc) 'exit)
      (format "exited with status %d" (process-exit-status proc))
    (format "ended by signal %d" (process-exit-status proc))))

;;;###autoload
(defun pwnm-push ()
  "Send the local pw/ tag edits to Patchwork now, in the background.
If a push is running, another one follows when it ends."
  (interactive)
  (if (process-live-p pwnm--push-process)
      (setq pwnm--push-again t)
    (setq pwnm--push-process nil)
    (pwnm--push-start)))

(defun pwnm--after-tag ()
  "Start a push when a pw/ tag was edited; for `notmuch-after-tag-hook'.
Reads the dynamically bound `tag-changes'.  Never signals."
  (defvar tag-changes)
  (condition-case failure
      (let ((changes (and (boundp 'tag-changes) tag-changes)))
	(when (cl-some (lambda (change)
			 (and (stringp change)
			      (or (string-prefix-p "+pw/" change)
				  (string-prefix-p "-pw/" change))))
		       changes)
	  (pwnm-push)))
    (error (message "pwnm: %s" (error-message-string failure)))))

;;; Tag formats

(defun pwnm--format-tag (tag)
  "Return the short display form of the pw/ TAG.
\"pw/alpha/new\" becomes \"alpha:new\", \"pw/alpha/delegate/jo\"
becomes \"alpha:@jo\"."
  ;; notmuch-show replaces the tag list of a header line with the
  ;; match data of its own search after calling the tag formats: keep
  ;; it intact.
  (let ((parts (save-match-data (split-string tag "/"))))
    (cond
     ((and (= (length parts) 4) (equal (nth 2 parts) "delegate"))
      (concat (nth 1 parts) ":@" (nth 3 parts)))
     ((>= (length parts) 3)
      (concat (nth 1 parts) ":" (string-join (nthcdr 2 parts) "/")))
     (t tag))))

(defconst pwnm--tag-formats
  '(("pw/conflict" (propertize tag 'face 'pwnm-conflict-face))
    ("pw/denied" (propertize tag 'face 'pwnm-denied-face))
    ("pw/[^/]+")
    ("pw/[^/]+/check/fail" (propertize (pwnm--format-tag tag) 'face 'pwnm-check-fail-face))
    ("pw/[^/]+/check/warning"
     (propertize (pwnm--format-tag tag) 'face 'pwnm-check-warning-face))
    ("pw/[^/]+/check/success"
     (propertize (pwnm--format-tag tag) 'face 'pwnm-check-success-face))
    ("pw/[^/]+/.+" (pwnm--format-tag tag)))
  "Entries added to the front of `notmuch-tag-formats' by `pwnm-enable'.")

;;; Enable and disable

;;;###autoload
(defun pwnm-enable ()
  "Turn on the pwnm helpers.
Add `pwnm--after-tag' to `notmuch-after-tag-hook', the pw/ tag
formats to `notmuch-tag-formats' and the Patchwork section to
`notmuch-hello-sections'."
  (interactive)
  (add-hook 'notmuch-after-tag-hook #'pwnm--after-tag)
  (setq notmuch-tag-formats
	(append pwnm--tag-formats
		(cl-remove-if (lambda (e) (member e pwnm--tag-formats))
			      notmuch-tag-formats)))
  (notmuch-tag-clear-cache)
  (pwnm-hello-setup))

;;;###autoload
(defun pwnm-disable ()
  "Undo `pwnm-enable'."
  (interactive)
  (remove-hook 'notmuch-after-tag-hook #'pwnm--after-tag)
  (setq notmuch-tag-formats
	(cl-remove-if (lambda (e) (member e pwnm--tag-formats))
		      notmuch-tag-formats))
  (notmuch-tag-clear-cache)
  (setq notmuch-hello-sections
	(remq #'pwnm-hello-insert-section notmuch-hello-sections)))

(provide 'pwnm)

;;; pwnm.el ends here
